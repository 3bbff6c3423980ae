#!/usr/bin/env python3
"""Entry point of the fake Airflow REST API server used by the specs, examples and demo.

    python3 spec/servers/fake_airflow.py --port 0 --port-file /tmp/port [--delay-ms N]
        [--max-page-size 100] [--token-ttl 3600] [--run-ms 300] [--airflow-version 3.3.2]

See spec/servers/fake_airflow/README.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_airflow.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
