"""The commit's recommended streaming read: defined once, for the benchmarks and for the instruction
client (a script, which imports this module by file), so that every "recommended" series reads alike.

- StreamUsersOnline with `columns` where the commit's contract has them: each item is the tuple
  (user_id, user_name, last_active_unix_micros), as a caller of the columns reads them;
- else StreamUsersOnline's UserOnlineItem messages;
- else GetUsersOnlineStream, the only streaming read before.

So the series cover every commit and step where the recommended read changed. Plain Python: it takes
the commit's workflow_pb2 rather than importing it.
"""


def recommended_request(stub, workflow_pb2):
    """The request of the recommended read, or None where the commit has no StreamUsersOnline."""
    if not hasattr(stub, "StreamUsersOnline"):
        return None
    request_type = workflow_pb2.StreamUsersOnlineRequest
    if "columns" in request_type.DESCRIPTOR.fields_by_name:
        return request_type(columns=True)
    return request_type()


def batch_items(request, batch):
    """The items of one StreamUsersOnline message, one by one, as the request asked for them."""
    if getattr(request, "columns", False):
        columns = batch.columns
        return zip(columns.user_ids, columns.user_names, columns.last_active_unix_micros)
    return batch.items


def recommended_read(stub, workflow_pb2, timeout: float):
    """(call, items): `items` yields every item one by one, as a caller iterating items sees them."""
    request = recommended_request(stub, workflow_pb2)
    if request is None:
        call = stub.GetUsersOnlineStream(workflow_pb2.EmptyRequest(), timeout=timeout)
        return call, call
    call = stub.StreamUsersOnline(request, timeout=timeout)
    return call, (item for batch in call for item in batch_items(request, batch))
