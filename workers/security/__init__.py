"""Security with a real broker: least-privilege ACLs derived from the topology (acls.py), the
admin calls that apply and verify them (admin.py), and the errors a worker reports when Kafka
refuses it (errors.py). docs/security.md has the whole picture."""
