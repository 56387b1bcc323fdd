"""`host:port` strings as Go's net package reads and prints them."""

from __future__ import annotations

import asyncio
import socket


class AddressError(ValueError):
    pass


def split_host_port(address: str) -> tuple[str, int]:
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise AddressError(f"address {address}: missing ']' in address")
        host, rest = address[1:end], address[end + 1:]
        if not rest.startswith(":"):
            raise AddressError(f"address {address}: missing port in address")
        port_text = rest[1:]
    else:
        if ":" not in address:
            raise AddressError(f"address {address}: missing port in address")
        host, port_text = address.rsplit(":", 1)
        if ":" in host:
            raise AddressError(f"address {address}: too many colons in address")
    if port_text == "":
        return host, 0
    if not port_text.isdigit() or int(port_text) > 65535:
        raise AddressError(f"address {address}: invalid port")
    return host, int(port_text)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def resolve(address: str) -> str:
    """The address with its host resolved to an IP (IPv4 first), as `net.ResolveTCPAddr`."""
    host, port = split_host_port(address)
    if host == "":
        return join_host_port("0.0.0.0", port)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressError(f"lookup {host}: {exc.strerror}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return join_host_port(str(infos[0][4][0]), port)
