"""Page accounting: per-day life-count readings in, per-day page deposits out.

This package is the single implementation of the contract's accounting rules (scope,
baseline, daily deltas, meter resets and glitches, deposits, trees), so every caller
agrees on the numbers. It is a pure function of its inputs: re-collecting a day only changes the
readings it is given, never state kept here, which is what makes collection idempotent
(rule 7).

Page arithmetic is int64 throughout and trees are `Decimal`: a float anywhere would let
rounding drift between runs and between implementations.

Day columns are returned as `datetime64[ns]` values normalised to midnight, the form pandas
groups, merges and compares fastest; callers wanting `date` objects use `.dt.date`.
"""
