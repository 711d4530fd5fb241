//! IP fragment reassembly (placeholder; being written).
