"""Run a moto server (S3, DynamoDB, ...) for one test process.

Started by the Rust test harness (tests/harness): binds 127.0.0.1 on a free
port, prints that port alone on one line of stdout once the server answers,
then blocks reading stdin. When stdin reaches EOF (the test process exited or
died, closing the pipe) the server is stopped and this process exits, so no
server outlives the tests that started it.

Usage: python3 tests/python/moto_server.py [PORT]   (default 0: any free port)
"""
import logging
import sys
import time
import urllib.request

try:
    from moto.core.responses import BaseResponse
    from moto.server import ThreadedMotoServer
except ImportError as err:  # reported by the harness with the fix
    print(
        f"moto is not installed ({err}): run "
        "`python3 -m pip install -r tests/requirements.txt`",
        file=sys.stderr,
    )
    sys.exit(3)


def rewrite_request_ids_in_xml_only() -> None:
    """Keep moto from cutting JSON answers that quote an XML error.

    moto (5.2.5) gives every answer a fresh request id by rewriting the body
    with the greedy regex `(?<=<RequestId>).*(?=</RequestId>)`, JSON answers
    included. A DynamoDB Scan page of several bag records whose `error`
    quotes S3's XML error body (`...<RequestId>...</RequestId></Error>`)
    then lost everything from the first item's `<RequestId>` to the last
    one's: attributes and whole items gone from what the tests read, though
    moto had stored them whole. Only XML answers are rewritten now; the
    rest of the step (the status and request-id headers) is unchanged.
    """
    enrich = BaseResponse._enrich_response

    def enrich_xml_only(headers, body):
        head = body.lstrip()[:1] if isinstance(body, (str, bytes)) else ""
        if head in ("<", b"<"):
            return enrich(headers, body)
        headers, _ = enrich(headers, "")
        return headers, body

    BaseResponse._enrich_response = staticmethod(enrich_xml_only)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # werkzeug logs every request on stderr: keep stderr for real errors.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rewrite_request_ids_in_xml_only()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # With port 0 the OS picked the port: read it back from the bound socket.
    _, port = server.get_host_and_port()

    # Never through an HTTP proxy from the environment: the server is local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                break
        except Exception:  # noqa: BLE001 (any failure means "not ready yet")
            if time.monotonic() > deadline:
                print("moto server did not answer within 30 s", file=sys.stderr)
                server.stop()
                sys.exit(4)
            time.sleep(0.05)

    print(port, flush=True)
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
