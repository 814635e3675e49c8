"""GraphQL services as tools: generated per root field, or declared operations."""

from pasarela.connectors.graphql.connector import GraphQLConnector

__all__ = ["GraphQLConnector"]
