import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USER_STATUS_UNSPECIFIED: _ClassVar[UserStatus]
    USER_STATUS_ONLINE: _ClassVar[UserStatus]
    USER_STATUS_OFFLINE: _ClassVar[UserStatus]
USER_STATUS_UNSPECIFIED: UserStatus
USER_STATUS_ONLINE: UserStatus
USER_STATUS_OFFLINE: UserStatus

class EmptyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("id", "title", "status", "created_date", "modified_date")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_DATE_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_DATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    status: str
    created_date: _timestamp_pb2.Timestamp
    modified_date: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[str] = ..., created_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., modified_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UserOnlineItem(_message.Message):
    __slots__ = ("user_id", "user_name", "status", "last_active")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user_name: str
    status: UserStatus
    last_active: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., user_name: _Optional[str] = ..., status: _Optional[_Union[UserStatus, str]] = ..., last_active: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetUsersOnlineResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[UserOnlineItem]
    def __init__(self, items: _Optional[_Iterable[_Union[UserOnlineItem, _Mapping]]] = ...) -> None: ...

class StreamUsersOnlineRequest(_message.Message):
    __slots__ = ("max_items_per_batch", "columns")
    MAX_ITEMS_PER_BATCH_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    max_items_per_batch: int
    columns: bool
    def __init__(self, max_items_per_batch: _Optional[int] = ..., columns: _Optional[bool] = ...) -> None: ...

class UserOnlineColumns(_message.Message):
    __slots__ = ("user_ids", "user_names", "last_active_unix_micros")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    USER_NAMES_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVE_UNIX_MICROS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    user_names: _containers.RepeatedScalarFieldContainer[str]
    last_active_unix_micros: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., user_names: _Optional[_Iterable[str]] = ..., last_active_unix_micros: _Optional[_Iterable[int]] = ...) -> None: ...

class UserOnlineBatch(_message.Message):
    __slots__ = ("items", "columns")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[UserOnlineItem]
    columns: UserOnlineColumns
    def __init__(self, items: _Optional[_Iterable[_Union[UserOnlineItem, _Mapping]]] = ..., columns: _Optional[_Union[UserOnlineColumns, _Mapping]] = ...) -> None: ...
