"""Stateful fake Apache Airflow REST API server (Airflow 3 /api/v2 and Airflow 2 /api/v1).

Stdlib only. Start it with ``python3 spec/servers/fake_airflow.py --port 0 --port-file F``;
see README.md in this directory for the control API and the seed data.
"""
