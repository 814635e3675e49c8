"""REST systems described by Swagger 2.0 or OpenAPI 3.x."""

from pasarela.connectors.openapi.connector import OpenApiConnector
from pasarela.connectors.openapi.wire import encode_path_segment

__all__ = ["OpenApiConnector", "encode_path_segment"]
