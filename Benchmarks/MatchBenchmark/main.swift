print("bench-match: not yet implemented")
