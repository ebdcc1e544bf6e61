"""The lean reference of bench/lean_server.py: databases, rules, routes."""
