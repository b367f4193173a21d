"""Where jobs live: the SQLite job store, its versioned schema, and the data folder's disk."""
