"""gRPC services as tools: reflection, descriptor sets or .proto files; dynamic messages."""

from pasarela.connectors.grpc.connector import GrpcConnector

__all__ = ["GrpcConnector"]
