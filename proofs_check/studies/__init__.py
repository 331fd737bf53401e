"""Studies that use the verified theorems: the comparison of architectures, the regularisation path, the errata of
[E22] on instances, token clustering, and the experiments (digits, grokking, student-teacher) with their baseline
models (proofs_check.studies.models)."""
