"""Publication of the marts: every mart changes in one transaction."""
