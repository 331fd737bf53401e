"""Human-readable output of verifications: the per-theorem witness lines and the summary table."""

from __future__ import annotations

from proofs_check.harness import Verification

COLUMNS = ("theorem", "N", "s", "d", "c", "beta", "m", "restarts", "convex optimum", "best primal", "rel. gap",
           "witnesses")


def _row(result: Verification) -> tuple[str, ...]:
    decided = [c for c in result.checks if c.passed is not None and c.claim]
    restarted = result.restarts is not None
    return (result.theorem, *(str(result.dims[k]) for k in "Nsdc"), f"{result.beta:g}", str(result.heads),
            str(result.restarts) if restarted else "-", f"{result.convex_optimum:.10g}",
            f"{result.best_primal:.10g}" if restarted else "-", f"{result.relative_gap:.2e}" if restarted else "-",
            f"{sum(bool(c.passed) for c in decided)}/{len(decided)}")


def format_table(results: list[Verification]) -> str:
    """A plain-text table, one row per verification, columns as the foundation issue lists them."""
    return text_table(COLUMNS, [_row(r) for r in results])


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces, with a dashed rule under the header."""
    rows = [header] + rows
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verification_lines(result: Verification) -> str:
    """One line per witness, with the headline numbers of the verification."""
    lines = [
        f"{result.theorem}: solver {result.solver}, seed {result.seed}, C* = {result.convex_optimum:.12g}, "
        f"certified lower bound {result.lower_bound:.12g} (gap {result.certified_gap:.1e}), m* = rank = {result.rank}, heads = {result.heads}",
    ]
    if result.fraction_at_rank is not None:
        lines.append(f"  restarts reaching C* at m = m* = {result.rank}: {result.fraction_at_rank:.0%}")
    lines += [f"  {key}: {value}" for key, value in result.extras.items()]
    for check in result.checks:
        verdict = {True: "PASS", False: "FAIL", None: "skip"}[check.passed] if check.claim else \
            {True: "seen", False: "not seen", None: "skip"}[check.passed]
        bound = f"{check.value:.3e} {check.relation} {check.tolerance:.0e}" if check.passed is not None else ""
        lines.append(f"  [{verdict}] {check.name:<17} {bound:<26} {check.detail}")
    return "\n".join(lines)
