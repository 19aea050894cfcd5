"""The client side of an instruction count: run under valgrind by bench_instructions.py.

    python instruction_client.py TARGET CALL N

Warms up with one call of every kind (so one-time costs fall in the baseline), then makes N calls
of CALL (stream, buffered, unary or recommended: the commit's recommended streaming read, as
recommended.py defines it) and prints {"items": received} as JSON. With N = 0 it is the baseline run
that the measured run is compared against.
"""

import json
import sys

# Far above any call's time under valgrind (a 5,000-item stream takes about 3 s there): a call that
# hangs fails the count with DEADLINE_EXCEEDED instead of stalling the asv run.
CALL_TIMEOUT = 120


def main(target: str, call: str, calls: int) -> None:
    import grpc
    from recommended import batch_items, recommended_request  # run as a script: its folder is on sys.path

    from ect_service.v1 import workflow_pb2, workflow_pb2_grpc

    options = [("SingleThreadedUnaryStream", 1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
        empty = workflow_pb2.EmptyRequest()
        request = workflow_pb2.GetWorkflowRequest(id="test-workflow-1")
        kinds = {
            "stream": lambda: sum(1 for _ in stub.GetUsersOnlineStream(empty, timeout=CALL_TIMEOUT)),
            "buffered": lambda: len(stub.GetUsersOnline(empty, timeout=CALL_TIMEOUT).items),
            "unary": lambda: int(bool(stub.GetWorkflow(request, timeout=CALL_TIMEOUT).id)),
        }
        warm_ups = list(kinds.values())
        recommended = recommended_request(stub, workflow_pb2)
        if recommended is None:  # before StreamUsersOnline, the recommended read was the stream
            kinds["recommended"] = kinds["stream"]
        else:
            kinds["recommended"] = lambda: sum(
                1 for batch in stub.StreamUsersOnline(recommended, timeout=CALL_TIMEOUT)
                for _ in batch_items(recommended, batch))
            warm_ups.append(kinds["recommended"])
        for warm_up in warm_ups:
            warm_up()
        items = sum(kinds[call]() for _ in range(calls))
    print(json.dumps({"items": items}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
