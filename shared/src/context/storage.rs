//! Assembly of the storage capability from the cold-start state (filled in by the architecture refactor).
