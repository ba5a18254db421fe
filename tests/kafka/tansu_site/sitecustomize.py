"""Test-only workaround for a Tansu broker defect: InitProducerId v0 is answered with
UnknownError (Tansu handles only v3+), and aiokafka 0.14 sends v0, so idempotent and
transactional producers cannot start against it. This teaches aiokafka v3.

Loaded by tests/kafka/conftest.py in the test process, and as `sitecustomize` (through
PYTHONPATH) by `streamsql` subprocesses the tests start; never by streamsql itself.
It relies on aiokafka internals, which is why pyproject.toml pins aiokafka.
"""
from aiokafka.protocol import transaction as T
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.types import CompactString, Int16, Int32, Int64, Schema, TaggedFields


class InitProducerIdResponse_v3(Response):
    API_KEY = 22
    API_VERSION = 3
    FLEXIBLE_VERSION = True
    SCHEMA = Schema(("throttle_time_ms", Int32), ("error_code", Int16), ("producer_id", Int64),
                    ("producer_epoch", Int16), ("tags", TaggedFields))


class InitProducerIdRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 22
    API_VERSION = 3
    RESPONSE_TYPE = InitProducerIdResponse_v3
    SCHEMA = Schema(("transactional_id", CompactString("utf-8")), ("transaction_timeout_ms", Int32),
                    ("producer_id", Int64), ("producer_epoch", Int16), ("tags", TaggedFields))


_original_build = T.InitProducerIdRequest.build


def _build(self, cls):
    if cls is InitProducerIdRequest_v3:
        return cls(self._transactional_id, self._transaction_timeout_ms, -1, -1, {})
    return _original_build(self, cls)


if not getattr(T.InitProducerIdRequest, "_tansu_v3", False):  # once, if loaded twice
    T.InitProducerIdRequest._CLASSES = (T.InitProducerIdRequest_v0, InitProducerIdRequest_v3)
    T.InitProducerIdRequest.build = _build
    T.InitProducerIdRequest._tansu_v3 = True
