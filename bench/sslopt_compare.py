"""Compare the in-process verdicts with what ssl-opt.sh itself reports.

    cd <mbedtls tree with ssl_server2, ssl_client2, udp_proxy built>/tests
    MBEDTLS_TEST_OUTCOME_FILE=/tmp/outcomes.csv bash ssl-opt.sh -f "$(python bench/sslopt_compare.py --filter)"
    python -m mbedtls_py ssl-opt --json > /tmp/ours.json
    python bench/sslopt_compare.py /tmp/outcomes.csv /tmp/ours.json

``--filter`` prints a grep BRE matching exactly the DTLS case names.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter


def main(argv: list[str]) -> int:
    if argv[:1] == ["--filter"]:
        from mbedtls_py.sslopt.parse import load_cases
        names = [c.name for c in load_cases() if c.dtls]
        print("^\\(" + "\\|".join(re.sub(r"([.\[\]*^$\\])", r"\\\1", n) for n in names) + "\\)$")
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    real = {}
    for line in open(argv[0]):
        f = line.rstrip("\n").split(";")
        real[f[3]] = f[4]
    ours = {r["name"]: r["verdict"] for r in json.load(open(argv[1]))["results"]}
    pairs = Counter((v, real.get(n, "MISSING")) for n, v in ours.items())
    for (a, b), k in sorted(pairs.items()):
        print(f"{k:5d}  in process {a:<11} ssl-opt.sh {b}")
    for n, v in ours.items():
        if v in ("PASS", "FAIL", "SKIP") and real.get(n) != v:
            print(f"  differs: {n}: {v} here, {real.get(n)} in ssl-opt.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
