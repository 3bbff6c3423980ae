#!/usr/bin/env python3
"""Writes the static pages the HTTP/2 nginx (h2-nginx.conf.in) serves into the given directory:
dags.json, a ~5 MB page of 20,000 DAGs, the big body of the HTTP/2 tests."""
import json
import sys

www = sys.argv[1]
dags = [{"dag_id": "dag_%05d" % i, "is_paused": i % 2 == 0, "tags": [{"name": "t%d" % (i % 7)}],
         "description": "d" * 200} for i in range(20000)]
with open(www + "/dags.json", "w") as f:
    json.dump({"dags": dags, "total_entries": len(dags)}, f)
