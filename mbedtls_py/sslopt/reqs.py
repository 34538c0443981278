"""ssl-opt.sh's requirement functions, evaluated against this build.

``requirements(case)`` replays the ``requires_*``/``skip_next_test``/...
calls before a ``run_test`` and the checks run_test itself adds
(``detect_required_features``: force_version, force_ciphersuite, tickets,
certificates, PSK...), with the build's configuration from
``mbedtls_py.build_config()`` (what ``query_compile_time_config -l`` prints)
and cipher suites from ``available_ciphersuites()`` (``help_ciphersuites``).
The first unmet requirement is returned as the reason to SKIP.

The checks follow the ssl-opt.sh of the loaded library's major version: 4.x
names the crypto by PSA_WANT_* (RSA keys, ECDSA, hashes), and its sample
programs need a built-in entropy RNG (``!MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG``).
"""

from __future__ import annotations

import platform
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from ..bindings.buildconfig import build_config
from ..bindings.config import available_ciphersuites
from ..foreign.gnutls.build import INSTALL_HINT as GNUTLS_HINT
from ..foreign.gnutls.build import header_version as gnutls_in_process
from .parse import Case

__all__ = ["Requirements", "requirements"]

_CERT_KEX = ("MBEDTLS_KEY_EXCHANGE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED "
             "MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED "
             "MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED "
             "MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED").split()
_ECDSA_KEX = ["MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED", "MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED"]
_CERT_KEX_WO_ECDH = _CERT_KEX[:5]


@dataclass
class Requirements:
    """The outcome of a case's set-up calls."""

    skip: str | None = None          # the first unmet requirement
    unsupported: str | None = None   # a set-up call this runner cannot evaluate
    cli_delay_factor: int = 1
    srv_delay_seconds: int = 0
    skip_handshake_check: bool = False


class _Eval:
    def __init__(self) -> None:
        self.cfg = build_config()
        self.r = Requirements()
        from .. import __mbedtls_version__  # the loaded library (a variant, maybe)

        # 4.x's detect_required_features (TF-PSA-Crypto: no legacy *_C names)
        self.v4 = int(__mbedtls_version__.split(".")[0]) >= 4

    def psa(self) -> bool:
        """Whether hash and key requirements are spelled PSA_WANT_* here."""
        return self.v4 or self.enabled("MBEDTLS_USE_PSA_CRYPTO")

    def enabled(self, name: str) -> bool:
        return name in self.cfg

    def value(self, name: str) -> int:
        raw = self.cfg.get(name, "")
        m = re.search(r"-?\d+", raw)
        if not m:
            raise ValueError(f"Mbed TLS configuration {name} is not defined")
        return int(m.group(0))

    def skip(self, why: str) -> None:
        if self.r.skip is None:
            self.r.skip = why

    def skip_if(self, cond: bool, why: str) -> None:
        if cond:
            self.skip(why)

    def need(self, name: str) -> None:
        if not self.enabled(name):
            self.skip(f"requires_config_enabled {name}")

    def need_all(self, names: list[str]) -> None:
        for n in names:
            self.need(n)

    def need_any(self, names: list[str], why: str) -> None:
        if not any(self.enabled(n) for n in names):
            self.skip(why)

    def cert_auth(self) -> None:
        if self.enabled("MBEDTLS_SSL_PROTO_TLS1_3"):  # TLS 1.3 is negotiated by default
            self.need("MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED")
        else:
            self.need_any(_CERT_KEX, "requires_certificate_authentication")

    def call(self, words: list[str]) -> None:
        fn, args = words[0], words[1:]
        a0 = args[0] if args else ""
        joined = f"{fn} {' '.join(args)}"
        cfg_checks: dict[str, Callable[[], None]] = {
            "requires_config_enabled": lambda: self.need(a0),
            "requires_config_disabled": lambda: self.skip_if(self.enabled(a0), joined),
            "requires_all_configs_enabled": lambda: self.skip_if(
                not all(self.enabled(a) for a in args), joined),
            "requires_all_configs_disabled": lambda: self.skip_if(
                any(self.enabled(a) for a in args), joined),
            "requires_any_configs_enabled": lambda: self.need_any(args, joined),
            "requires_any_configs_disabled": lambda: self.skip_if(
                all(self.enabled(a) for a in args), joined),
            "requires_config_value_at_least": lambda: self.skip_if(
                self.value(a0) < int(args[1]), joined),
            "requires_config_value_at_most": lambda: self.skip_if(
                self.value(a0) > int(args[1]), joined),
            "requires_config_value_equals": lambda: self.skip_if(
                self.value(a0) != int(args[1]), joined),
            "requires_max_content_len": lambda: self.skip_if(
                min(self.value("MBEDTLS_SSL_IN_CONTENT_LEN"),
                    self.value("MBEDTLS_SSL_OUT_CONTENT_LEN")) < int(a0), joined),
            "requires_full_size_output_buffer": lambda: self.skip_if(
                self.value("MBEDTLS_SSL_OUT_CONTENT_LEN") != 16384, fn),
            "requires_certificate_authentication": self.cert_auth,
            "requires_protocol_version": lambda: self.need(
                "MBEDTLS_SSL_PROTO_TLS1_3" if a0 in ("tls13", "dtls13")
                else "MBEDTLS_SSL_PROTO_TLS1_2"),
            "requires_ciphersuite_enabled": lambda: self.skip_if(
                a0 not in available_ciphersuites(), joined),
            "requires_hash_alg": lambda: self.need(
                ("MBEDTLS_MD5_C" if a0 == "MD5" else "MBEDTLS_" + a0.replace("_", "", 1) + "_C")
                if not self.psa() else "PSA_WANT_ALG_" + a0),
            "requires_pk_alg": lambda: self.need("PSA_WANT_ALG_ECDSA" if self.v4
                                                 else "MBEDTLS_ECDSA_C"),
            "requires_cipher_enabled": lambda: self.need_all(
                [f"MBEDTLS_{args[1]}_C", f"MBEDTLS_{a0}_C"]),
            "skip_next_test": lambda: self.skip("skip_next_test"),
            "not_with_valgrind": lambda: None,
            "not_with_msan_or_valgrind": lambda: None,
            "only_with_valgrind": lambda: self.skip("only_with_valgrind (valgrind not in use)"),
            "requires_not_i686": lambda: self.skip_if("i686" in platform.machine(), fn),
            "requires_ipv6": lambda: None,
            "skip_handshake_stage_check": lambda: setattr(self.r, "skip_handshake_check", True),
            "client_needs_more_time": lambda: setattr(self.r, "cli_delay_factor", int(a0)),
            "server_needs_more_time": lambda: setattr(self.r, "srv_delay_seconds", int(a0)),
        }
        tools = {
            "requires_gnutls": ("gnutls-cli", "gnutls-serv"),
            "requires_gnutls_next": ("gnutls-cli", "gnutls-serv"),
            "requires_openssl_next": ("openssl",),
        }
        if fn in cfg_checks:
            cfg_checks[fn]()
        elif fn in tools:
            missing = [t for t in tools[fn] if shutil.which(t) is None]
            if missing and fn.startswith("requires_gnutls") and gnutls_in_process():
                missing = []  # the in-process peer (a --real-peers run needs the programs)
            if missing and fn.startswith("requires_gnutls"):
                self.skip(f"{fn}: no GnuTLS; {GNUTLS_HINT}; for --real-peers also "
                          "apt-get install gnutls-bin")
            elif missing:
                self.skip(f"{fn} ({' '.join(missing)} not installed)")
        elif fn in ("requires_openssl_3_x", "requires_openssl_tls1_3",
                    "requires_gnutls_tls1_3", "requires_gnutls_next_no_ticket",
                    "requires_gnutls_next_disable_tls13_compat", "requires_openssl_with_fallback_scsv",
                    "requires_gnutls_record_size_limit"):
            if self.r.unsupported is None:
                self.r.unsupported = f"set-up call {fn} (external tool probe)"
        elif self.r.unsupported is None:
            self.r.unsupported = f"set-up call {fn}"

    def features(self, cmd: str, role: str) -> None:
        """run_test's detect_required_features for one command line."""
        m = re.search(r" force_version=([-0-9A-Z_a-z]*)", cmd)
        if m:
            self.call(["requires_protocol_version", m.group(1)])
        m = re.search(r" force_ciphersuite=([-0-9A-Z_a-z]*)", cmd)
        if m:
            self.call(["requires_ciphersuite_enabled", m.group(1)])
        padded = f" {cmd} "
        if re.search(r"[-_ =]tickets=[^0]", padded):
            self.need("MBEDTLS_SSL_TICKET_C")
        if re.search(r"[-_ =]alpn=", padded):
            self.need("MBEDTLS_SSL_ALPN")
        if " auth_mode=" in padded or re.search(r"[-_ =]crt[_=]", padded):
            self.cert_auth()
        if " ca_callback=1 " in padded:
            self.need("MBEDTLS_X509_TRUSTED_CERTIFICATE_CALLBACK")
        rng = ("MBEDTLS_CTR_DRBG_C", "MBEDTLS_PSA_CRYPTO_C") if self.v4 \
            else ("MBEDTLS_CTR_DRBG_C", "MBEDTLS_ENTROPY_C")
        if re.search(r"programs/ssl/(dtls_client|ssl_client1) ", padded):
            self.sample_rng(rng)
            for n in ("MBEDTLS_PEM_PARSE_C", "MBEDTLS_SSL_CLI_C"):
                self.need(n)
            self.cert_auth()
        if re.search(r"programs/ssl/(dtls_server|ssl_fork_server|ssl_pthread_server|ssl_server) ",
                     padded):
            self.sample_rng(rng)
            for n in ("MBEDTLS_PEM_PARSE_C", "MBEDTLS_SSL_SRV_C"):
                self.need(n)
            self.cert_auth()
            self.call(["requires_config_value_at_least", "MBEDTLS_SSL_OUT_CONTENT_LEN", "2000"])
        psk = re.search(r"[-_ =](psk|PSK)", cmd)
        if not psk and re.search(r"/server5|/server7|/dir-maxpath", cmd):
            self.cert_auth()
            ext_wo_ecdh = "gnutls" in cmd
            if role == "server":
                self.need_any(["MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED"] if ext_wo_ecdh
                              else _ECDSA_KEX, "requires_any_configs_enabled (ECDSA key exchange)")
            else:
                self.need_any(_CERT_KEX_WO_ECDH if ext_wo_ecdh else _CERT_KEX,
                              "requires_any_configs_enabled (certificate key exchange)")
                self.need("PSA_WANT_ALG_ECDSA" if self.v4 else "MBEDTLS_ECDSA_C")
        if not psk and re.search(r"/server1|/server2|/server7", cmd):
            self.cert_auth()
            self.need("PSA_WANT_KEY_TYPE_RSA_KEY_PAIR_BASIC" if self.v4 else "MBEDTLS_RSA_C")

    def sample_rng(self, names: tuple[str, ...]) -> None:
        """The RNG upstream's simple samples seed themselves (4.x: the PSA RNG,
        which must not be external)."""
        self.need_all(list(names))
        if self.v4 and self.enabled("MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG"):
            self.skip("requires_config_disabled MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG")


def requirements(case: Case) -> Requirements:
    """Evaluate ``case``'s set-up calls and run_test's own checks."""
    e = _Eval()
    for words in case.setup:
        if words and words[0] == "__unreadable__":
            e.r.unsupported = e.r.unsupported or f"unreadable set-up call: {words[1]}"
            continue
        try:
            e.call(words)
        except (ValueError, IndexError) as err:
            e.r.unsupported = e.r.unsupported or f"{' '.join(words)}: {err}"
    if "../framework/data_files/" in case.srv_cmd + " " + case.cli_cmd:
        e.need("MBEDTLS_FS_IO")
    if case.dtls:
        e.need("MBEDTLS_SSL_PROTO_DTLS")
    e.features(case.srv_cmd, "server")
    e.features(case.cli_cmd, "client")
    return e.r
