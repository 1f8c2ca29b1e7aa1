"""Files finterm keeps: the recording format and the label corrections, written crash-safely."""
