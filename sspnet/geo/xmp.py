"""The XMP packet of a JPEG (APP1 ``http://ns.adobe.com/xap/1.0/``) and its DJI ``drone-dji:`` fields.

DJI writes its flight and gimbal record into XMP, as attributes of ``rdf:Description`` on most firmware
(``drone-dji:GimbalYawDegree="+179.90"``) and as child elements on some (``<drone-dji:GimbalYawDegree>``). Both
forms are read. Only the markers before the image data are scanned, and a packet with a DTD or entity declaration
is refused rather than parsed (no entity expansion from untrusted files).
"""
from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
DJI_NAMESPACE_MARK = "drone-dji"  # DJI's namespace URI is http://www.dji.com/drone-dji/1.0/
_SOS, _EOI, _APP1 = 0xDA, 0xD9, 0xE1
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length
_X, _RDF, _DJI = "adobe:ns:meta/", "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://www.dji.com/drone-dji/1.0/"
for _prefix, _uri in (("x", _X), ("rdf", _RDF), ("drone-dji", _DJI)):  # the prefixes DJI writes
    ET.register_namespace(_prefix, _uri)


def read_xmp_packet(path: str | Path) -> bytes | None:
    """The raw XMP packet of a JPEG file, or None when it has none (or is not a JPEG)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return None
        while True:
            byte = f.read(1)
            if not byte:
                return None
            if byte != b"\xff":
                continue
            marker = f.read(1)
            while marker == b"\xff":  # fill bytes
                marker = f.read(1)
            if not marker:
                return None
            code = marker[0]
            if code in (_SOS, _EOI):
                return None
            if code in _STANDALONE:
                continue
            raw_len = f.read(2)
            if len(raw_len) < 2:
                return None
            (length,) = struct.unpack(">H", raw_len)
            payload = f.read(max(length - 2, 0))
            if code == _APP1 and payload.startswith(XMP_HEADER):
                return payload[len(XMP_HEADER):]


def _local(tag: str) -> tuple[str, str]:
    """'{uri}Name' → (uri, 'Name')."""
    if tag.startswith("{"):
        uri, _, name = tag[1:].partition("}")
        return uri, name
    return "", tag


def dji_fields(packet: bytes) -> dict[str, str]:
    """Every ``drone-dji:`` field of an XMP packet as {local name: text}, attributes and elements alike."""
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise ValueError("XMP packet declares a DTD or entities; refusing to parse it")
    text = packet.decode("utf-8", errors="replace").strip("\x00 \r\n\t")
    root = ET.fromstring(text)
    out: dict[str, str] = {}
    for el in root.iter():
        for key, value in el.attrib.items():
            uri, name = _local(key)
            if DJI_NAMESPACE_MARK in uri:
                out[name] = value.strip()
        uri, name = _local(el.tag)
        if DJI_NAMESPACE_MARK in uri and el.text and el.text.strip():
            out[name] = el.text.strip()
    return out


def dji_xmp(path: str | Path) -> dict[str, str]:
    """The DJI fields of a JPEG's XMP, {} when there are none."""
    packet = read_xmp_packet(path)
    return dji_fields(packet) if packet else {}


def dji_xmp_packet(fields: dict[str, object]) -> bytes:
    """An XMP packet with ``fields`` as ``drone-dji:`` attributes, as DJI firmware writes it (for synthetic data)."""
    desc = ET.Element(f"{{{_RDF}}}Description", {f"{{{_RDF}}}about": "DJI Meta Data"})
    for name, value in fields.items():
        desc.set(f"{{{_DJI}}}{name}", str(value))
    rdf = ET.Element(f"{{{_RDF}}}RDF")
    rdf.append(desc)
    meta = ET.Element(f"{{{_X}}}xmpmeta")
    meta.append(rdf)
    body = ET.tostring(meta, encoding="unicode")
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{body}<?xpacket end="w"?>').encode("utf-8")
