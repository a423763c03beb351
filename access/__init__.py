"""Who sees what: sign-in, the audit log, the role rules and examiner pseudonyms."""
