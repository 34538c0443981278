"""Reading ssl-opt.sh: shell words, run_test arguments, set-up calls,
requirements against this build, grep patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py.sslopt.parse import default_ssl_opt, detect_dtls, load_cases
from mbedtls_py.sslopt.reqs import requirements
from mbedtls_py.sslopt.runner import bre_to_python
from mbedtls_py.sslopt.shell import ShellError, eval_words, logical_statements, words

pytestmark = pytest.mark.skipif(not default_ssl_opt().is_file(),
                                reason="pinned source not unpacked (./dev.sh)")


def test_words_quotes_and_expansion() -> None:
    env = {"P_SRV": "srv a=1", "N": "5"}
    assert words('run_test "x y" "$P_SRV dtls=1" \'$N\' $((N + 1)) ${U:-d} ${N:+set}', env) == \
        ["run_test", "x y", "srv a=1 dtls=1", "$N", "6", "d", "set"]
    assert words('a "b \\"c\\" \\$d" e\\ f', {}) == ["a", 'b "c" $d', "e f"]
    with pytest.raises(ShellError):
        words('x "$(date)"', {})


def test_logical_statements_join_and_skip_functions() -> None:
    text = 'f() {\n  run_test "in function"\n}\nrun_test "a" \\\n  "b"\nx="multi\nline"\n# c\n'
    stmts = list(logical_statements(text))
    assert stmts[0] == (4, 'run_test "a" \\\n  "b"')
    assert stmts[1] == (6, 'x="multi\nline"')
    assert len(stmts) == 2


def test_eval_words_pipeline() -> None:
    assert eval_words("echo 'GET / HTTP/1.0' | openssl s_client -dtls", {}) == \
        [["echo", "GET / HTTP/1.0"], ["openssl", "s_client", "-dtls"]]


def test_detect_dtls_is_ssl_opt_pattern() -> None:
    assert detect_dtls("ssl_server2 dtls=1") and detect_dtls("openssl s_server -dtls1_2")
    assert detect_dtls("gnutls-serv -u") and not detect_dtls("ssl_server2 dtls=0")


def test_corpus_has_the_dtls_cases() -> None:
    """274 DTLS cases in ssl-opt.sh and 7 in opt-testcases/sample.sh (3.6.6)."""
    cases = load_cases()
    dtls = [c for c in cases if c.dtls]
    assert sum(1 for c in dtls if c.file == "ssl-opt.sh") >= 270
    assert sum(1 for c in dtls if c.file.startswith("opt-testcases/")) == 7
    assert all(c.error is None for c in dtls)


def test_a_case_fully_expanded() -> None:
    case = next(c for c in load_cases()
                if c.name == 'DTLS proxy: 3d (drop, delay, duplicate), "short" PSK handshake')
    assert case.pxy_cmd.endswith("drop=5 delay=5 duplicate=5")
    assert case.srv_cmd.startswith("../programs/ssl/ssl_server2 ") and "psk=73776f726466697368" \
        in case.srv_cmd
    assert "server_port=24433" in case.cli_cmd  # +SRV_PORT -> the proxy's port
    assert case.cli_expect == 0
    assert case.assertions == [("-s", "Extra-header:"), ("-c", "HTTP/1.0 200 OK")]
    assert ["client_needs_more_time", "2"] in case.setup


def test_default_proxy_added_for_dtls() -> None:
    case = next(c for c in load_cases() if c.name == "DTLS cookie: enabled")
    assert case.pxy_cmd.startswith("../programs/test/udp_proxy ")


def test_requirements_from_build_config() -> None:
    """requires_config_enabled is evaluated against build_config(): SRTP is off
    in this build (SKIP), DTLS cookies are on."""
    cfg = mbedtls_py.build_config()
    assert "MBEDTLS_SSL_PROTO_DTLS" in cfg and "MBEDTLS_SSL_DTLS_SRTP" not in cfg
    assert int(cfg["MBEDTLS_SSL_IN_CONTENT_LEN"]) > 0
    cases = {c.name: c for c in load_cases()}
    srtp = cases["DTLS-SRTP all profiles supported"]
    assert requirements(srtp).skip == "requires_config_enabled MBEDTLS_SSL_DTLS_SRTP"
    assert requirements(cases["DTLS cookie: enabled"]).skip is None


def test_copy_of_ssl_opt(tmp_path: Path) -> None:
    """--ssl-opt reads any copy (with its opt-testcases directory)."""
    src = default_ssl_opt().read_text()
    (tmp_path / "ssl-opt.sh").write_text(src.replace('"DTLS cookie: enabled"',
                                                     '"DTLS cookie: renamed"'))
    names = {c.name for c in load_cases(tmp_path / "ssl-opt.sh")}
    assert "DTLS cookie: renamed" in names and "DTLS cookie: enabled" not in names


@pytest.mark.parametrize("pattern,line,hit", [
    ("fragment larger than.*maximum ", "fragment larger than the maximum x", True),
    ("Certificate handshake message has been buffered$", "... has been buffered", False),
    ("a\\|b", "b", True), ("a|b", "a|b", True), ("a|b", "a", False),
    ("(initial handshake) Peer", "(initial handshake) Peer CID", True),
    ("x\\{2\\}", "xx", True), ("^ *Keying material: [0-9A-F]*$", "    Keying material: 0A", True),
])
def test_grep_bre(pattern: str, line: str, hit: bool) -> None:
    assert bool(bre_to_python(pattern).search(line)) is hit


def test_unique_after_is_grep_A1() -> None:  # noqa: N802 - grep's -A1
    """-u/-U: repeated lines after the pattern fail (one repeated '--' is allowed)."""
    from mbedtls_py.sslopt.parse import Case
    from mbedtls_py.sslopt.runner import check_assertions

    def unique_after(server_output: str) -> bool:
        case = Case(name="u", file="ssl-opt.sh", line=1, srv_cmd="", cli_cmd="", pxy_cmd="",
                    cli_expect=0, assertions=[("-U", "P")])
        return check_assertions(case, server_output, "", 0, 0) is None
    assert unique_after("x\nP\na\ny\nP\nb\n")
    assert unique_after("P\na\nz\nP\na\n")  # 'a' twice, '--' once: 1 duplicate
    assert not unique_after("P\na\nz\nP\na\nz\nP\na\n")  # 'a' and '--' repeated
    assert not unique_after("P\na\nP\na\nP\nb\nP\nb\n")


def test_setup_consumed_by_functions_that_run_tests() -> None:
    """`run_test_export_keying_material tls13` after `requires_protocol_version
    tls13` consumes that requirement (ssl-opt.sh resets SKIP_NEXT in run_test):
    the next case must not inherit it."""
    case = next(c for c in load_cases() if c.name == "Connection ID: Cli enabled, Srv disabled")
    assert case.setup == [["requires_config_enabled", "MBEDTLS_SSL_PROTO_TLS1_2"],
                          ["requires_config_enabled", "MBEDTLS_SSL_DTLS_CONNECTION_ID"]]
