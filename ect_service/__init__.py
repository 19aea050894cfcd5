"""The ECT workflow gRPC service: a grpcio server streaming online users from a SQL database."""

__version__ = "0.1.0"
