"""Customer archive (客户档案): customers, contacts, addresses, anniversaries, associated people, history."""
