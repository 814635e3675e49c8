"""SOAP services (WSDL) as tools, via zeep."""

from pasarela.connectors.soap.connector import SoapConnector

__all__ = ["SoapConnector"]
