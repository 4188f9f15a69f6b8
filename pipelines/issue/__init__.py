"""Issue stage: signed XML + PDF records, the ledger, verification."""
