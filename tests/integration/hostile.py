"""Raw HTTP for hostile tests: what a real client library would refuse to send."""

from __future__ import annotations

import socket
import time

# What read_response returns when the server closed the connection without answering, and when it said
# nothing at all before the read timed out.
CLOSED = 0
SILENT = -1


def raw_request(port: int, data: bytes, *, read_timeout: float = 5.0) -> tuple[int, bytes]:
    """Send bytes as they are; return (status, body) of the answer, or (CLOSED or SILENT, b"")."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    buffer = b""
    try:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return CLOSED, b""
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body
    except ConnectionResetError:
        return CLOSED, b""
    except TimeoutError:
        return SILENT, b""


def stream_chunked(port: int, path: str, headers: dict[str, str], total: int, chunk: int = 65536) -> tuple[int, int]:
    """Upload ``total`` bytes chunked, as fast as the server takes them, until it answers or closes.
    Returns (status, bytes sent)."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    piece = f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        while sent < total:
            try:
                sock.send(piece)
                sent += chunk
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break  # the answer has come
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
        sock.setblocking(True)
        sock.settimeout(5)
        status, _ = read_response(sock)
    return status, sent
