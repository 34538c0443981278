"""ssl_server2/ssl_client2 command-line options, mapped onto ``Config``.

``parse_options`` reads ``key=value`` arguments with the programs' defaults;
``make_config`` does what the programs' set-up code does (in the same
order where it matters).  An option the runner does not implement raises
``Unsupported`` naming it, so the case is reported UNSUPPORTED, not guessed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bindings.config import Config
from ..bindings.x509 import CertificateChain, PrivateKey
from .tree import data_dir, tests_dir

__all__ = ["Unsupported", "parse_options", "make_config"]


class Unsupported(Exception):
    """A feature the in-process runner does not implement (named)."""


_COMMON: dict[str, Any] = {
    "server_addr": None, "server_port": "4433", "debug_level": 0, "nbio": 0, "event": 0,
    "read_timeout": 0, "ca_file": "", "ca_path": "", "crt_file": "", "key_file": "",
    "key_pwd": "", "psk": "", "psk_identity": "Client_identity", "force_ciphersuite": "",
    "renegotiation": 0, "allow_legacy": -2, "renegotiate": 0, "renego_delay": -2,
    "exchanges": 1, "min_version": "", "max_version": "", "force_version": "",
    "allow_sha1": -1, "auth_mode": "", "max_frag_len": 0, "tickets": 1, "dtls": 0,
    "hs_timeout": "", "mtu": -1, "dgram_packing": 1, "cid": 0, "cid_val": "",
    "cid_renego": -1, "cid_val_renego": None, "etm": -1, "extended_ms": -1, "serialize": 0,
    "context_file": "", "groups": None, "transport": None,
}
_SERVER: dict[str, Any] = {
    "response_size": -1, "crt_file2": "", "key_file2": "", "key_pwd2": "", "cookies": 1,
    "anti_replay": -1, "badmac_limit": -1, "cache_max": -1, "cache_timeout": -1,
    "cache_remove": 0, "ticket_timeout": 86400, "renego_period": None, "buffer_size": 200,
    "cert_req_ca_list": 1, "sni": None,
}
_CLIENT: dict[str, Any] = {
    "server_name": "localhost", "request_page": "/", "request_size": -1, "max_resend": 0,
    "reconnect": 0, "reco_delay": 0, "reco_mode": 1, "reconnect_hard": 0,
    "skip_close_notify": 0, "reco_server_name": None, "set_hostname": 1,
}
_INTS = {"debug_level", "nbio", "event", "read_timeout", "renegotiation", "allow_legacy",
         "renegotiate", "renego_delay", "exchanges", "allow_sha1", "tickets", "dtls", "mtu",
         "dgram_packing", "cid", "cid_renego", "etm", "extended_ms", "serialize",
         "response_size", "cookies", "anti_replay", "badmac_limit", "cache_max", "cache_timeout",
         "cache_remove", "ticket_timeout", "buffer_size", "request_size", "max_resend",
         "reconnect", "reco_delay", "reco_mode", "reconnect_hard", "skip_close_notify",
         "cert_req_ca_list"}


def parse_options(args: list[str], endpoint: str) -> dict[str, Any]:
    """The options of ``ssl_server2`` (endpoint ``server``) or ``ssl_client2``."""
    opts = dict(_COMMON)
    opts.update(_SERVER if endpoint == "server" else _CLIENT)
    for arg in args:
        if "=" not in arg:
            raise Unsupported(f"ssl_{endpoint}2 argument {arg!r}")
        key, value = arg.split("=", 1)
        if key not in opts:
            raise Unsupported(f"ssl_{endpoint}2 option {key}=")
        if key in _INTS:
            try:
                opts[key] = int(value)
            except ValueError:
                raise Unsupported(f"ssl_{endpoint}2 option {key}={value}") from None
        elif key == "renego_period":
            opts[key] = int(value)
        else:
            opts[key] = value
    if opts["cid_renego"] == -1:
        opts["cid_renego"] = opts["cid"]
    if opts["cid_val_renego"] is None:
        opts["cid_val_renego"] = opts["cid_val"]
    if opts["force_version"] not in ("", "dtls12", "tls12"):
        raise Unsupported(f"force_version={opts['force_version']} (this build has DTLS 1.2 only)")
    if opts["groups"] not in (None, "default"):
        raise Unsupported("groups= (mbedtls_ssl_conf_groups not bound)")
    if opts["auth_mode"] not in ("", "none", "optional", "required"):
        raise Unsupported(f"auth_mode={opts['auth_mode']}")
    if opts["ca_path"] not in ("", "none"):
        raise Unsupported("ca_path=")
    if opts["nbio"] == 2:
        pass  # delayed_recv/delayed_send: the same calls, only slower in real time
    return opts


def _data(path: str) -> bytes:
    p = Path(path)
    if not p.is_absolute():
        p = tests_dir() / p  # ssl-opt.sh runs in its tests/
    try:
        return p.read_bytes()
    except OSError as e:
        raise Unsupported(f"cannot read {path}: {e.strerror}") from None


def _load_pair(conf: Config, crt: str | bytes, key: str | bytes, pwd: str) -> None:
    crt_b = _data(crt) if isinstance(crt, str) else crt
    key_b = _data(key) if isinstance(key, str) else key
    conf.set_certificate(CertificateChain(crt_b), PrivateKey(key_b, pwd or None))


def _default_cas() -> bytes:
    return b"".join((data_dir() / n).read_bytes() for n in
                    ("test-ca-sha256.crt", "test-ca-sha1.crt", "test-ca2.crt"))


def make_config(endpoint: str, o: dict[str, Any], seed: bytes, name: str) -> Config:
    """A ``Config`` set up as ssl_server2/ssl_client2 set theirs up."""
    if not o["dtls"] and o["transport"] is None:
        raise Unsupported("TLS (stream) case")
    conf = Config(endpoint, seed=seed, name=name)  # type: ignore[arg-type]
    if o["allow_sha1"] > 0:
        conf.allow_sha1()
    if o["auth_mode"]:
        conf.set_authmode(o["auth_mode"])
    if endpoint == "server" and o["cert_req_ca_list"] != 1:
        raise Unsupported("cert_req_ca_list=")
    if o["hs_timeout"]:
        lo, _, hi = o["hs_timeout"].partition("-")
        conf.set_handshake_timeout(int(lo), int(hi or lo))
    conf.do_set_max_frag_len(int(o["max_frag_len"] or 0))
    cid_len = len(bytes.fromhex(o["cid_val"])) if o["cid"] == 1 else \
        len(bytes.fromhex(o["cid_val_renego"]))
    if o["cid"] == 1 or o["cid_renego"] == 1:
        if o["cid"] == 1 and o["cid_renego"] == 1 and \
                len(bytes.fromhex(o["cid_val"])) != len(bytes.fromhex(o["cid_val_renego"])):
            raise Unsupported("CID length changing during renegotiation (usage error)")
        conf.set_cid(cid_len)
    if o["extended_ms"] != -1:
        conf.set_extended_master_secret(bool(o["extended_ms"]))
    if o["etm"] != -1:
        conf.set_encrypt_then_mac(bool(o["etm"]))
    if endpoint == "server":
        conf.set_session_cache(None if o["cache_max"] == -1 else o["cache_max"],
                               None if o["cache_timeout"] == -1 else o["cache_timeout"])
        if o["tickets"]:
            conf.do_set_session_tickets(True, o["ticket_timeout"])
        if o["cookies"] > 0:
            conf.set_cookies(True)
        elif o["cookies"] == 0:
            conf.set_cookies(False)
        else:
            conf.set_library_default_cookies()  # ssl_server2 leaves the defaults
        if o["sni"] is not None:
            conf.set_sni(_sni_entries(o["sni"]))
        if o["anti_replay"] != -1:
            conf.set_anti_replay(bool(o["anti_replay"]))
        if o["badmac_limit"] != -1:
            conf.set_badmac_limit(o["badmac_limit"])
    else:
        conf.set_read_timeout(o["read_timeout"])
        conf.do_set_session_tickets(bool(o["tickets"]))
    if o["force_ciphersuite"]:
        try:
            conf.set_ciphersuites([o["force_ciphersuite"]])
        except ValueError as e:
            raise Unsupported(f"force_ciphersuite: {e}") from None
    conf.set_renegotiation(bool(o["renegotiation"]))
    if o["renego_delay"] != -2:
        conf.set_renegotiation_enforced(o["renego_delay"])
    if endpoint == "server" and o["renego_period"] is not None:
        conf.set_renegotiation_period(o["renego_period"])
    if o["allow_legacy"] != -2:
        raise Unsupported("allow_legacy=")
    _certificates(endpoint, o, conf)
    if o["psk"]:
        conf.set_psk(bytes.fromhex(o["psk"]), o["psk_identity"])
    if o["force_version"] or o["min_version"] or o["max_version"]:
        if o["min_version"] not in ("", "dtls12", "tls12") or \
                o["max_version"] not in ("", "dtls12", "tls12"):
            raise Unsupported("min_version/max_version other than (d)tls12")
        conf.set_version("1.2", "1.2")
    return conf


def _sni_entries(spec: str) -> list[tuple[Any, ...]]:
    """ssl_server2's sni_parse: name,crt,key,ca,crl,auth groups; '-' = none."""
    items = spec.split(",")
    if len(items) % 6:
        raise Unsupported(f"sni={spec} (not name,crt,key,ca,crl,auth groups)")
    out = []
    for i in range(0, len(items), 6):
        name, crt, key, ca, crl, auth = items[i:i + 6]
        if auth not in ("-", "none", "optional", "required"):
            raise Unsupported(f"sni auth mode {auth}")
        out.append((name, CertificateChain(_data(crt)), PrivateKey(_data(key)),
                    CertificateChain(_data(ca)) if ca != "-" else None,
                    _data(crl) if crl != "-" else None, None if auth == "-" else auth))
    return out


def _certificates(endpoint: str, o: dict[str, Any], conf: Config) -> None:
    if o["ca_file"] != "none":
        conf.set_ca_chain(CertificateChain(_data(o["ca_file"]) if o["ca_file"] else
                                           _default_cas()))
    if endpoint == "client":
        if o["crt_file"] == "none" or o["key_file"] == "none":
            return
        crt = o["crt_file"] or str(data_dir() / "cli-rsa-sha256.crt")
        key = o["key_file"] or str(data_dir() / "cli-rsa.key")
        _load_pair(conf, crt, key, o["key_pwd"])
        return
    init1 = sum(1 for k in ("crt_file", "key_file") if o[k] and o[k] != "none")
    init2 = sum(1 for k in ("crt_file2", "key_file2") if o[k] and o[k] != "none")
    if init1 == 1 or init2 == 1:
        raise Unsupported("crt_file without key_file (usage error)")
    if init1:
        _load_pair(conf, o["crt_file"], o["key_file"], o["key_pwd"])
    if init2:
        _load_pair(conf, o["crt_file2"], o["key_file2"], o["key_pwd2"])
    if not init1 and not init2 and "none" not in (o["crt_file"], o["key_file"],
                                                  o["crt_file2"], o["key_file2"]):
        _load_pair(conf, str(data_dir() / "server2-sha256.crt"), str(data_dir() / "server2.key"), "")
        _load_pair(conf, str(data_dir() / "server5.crt"), str(data_dir() / "server5.key"), "")
