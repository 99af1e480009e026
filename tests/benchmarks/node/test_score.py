import math

from tests.benchmarks.node.run import score, site_r2


def test_site_r2_is_the_squared_correlation_and_undefined_on_a_constant_truth() -> None:
    perfect = site_r2([0.0, 1.0, 2.0], [0, 1, 2])
    inverse = site_r2([2.0, 1.0, 0.0], [0, 1, 2])
    flat_dosage = site_r2([1.0, 1.0, 1.0], [0, 1, 2])
    flat_truth = site_r2([0.1, 0.2, 0.3], [1, 1, 1])

    assert (perfect, inverse, flat_dosage, flat_truth) == (1.0, 1.0, 0.0, None)


def test_score_counts_missing_sites_and_concordance_over_every_person() -> None:
    truth = {10: [0, 1, 2], 20: [1, 1, 1], 30: [0, 0, 1]}
    imputed = {10: ([0.0, 1.0, 2.0], [0, 1, 2]), 20: ([1.0, 1.0, 1.0], [1, 0, 1])}

    result = score(truth, imputed, {10, 20, 30})

    assert (result.sites, result.scored, result.missing, result.mean_r2) == (3, 1, 1, 1.0)
    assert math.isclose(result.concordance, 5 / 6)
