"""The jitter check (harness.schedule.check_jitter): fixed "jitter" of every kind fails, true
jitter fails no more often than the stated bound (measured by simulating many scenarios through
the check itself), and a check that cannot keep to that bound says what it needs instead of
passing."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from harness.jitter import (JITTER_FALSE_FAILURE, JitterResolution, agree_with_one_chance, at_most_varying,
                            check_jitter, positions_agree_chance, spread_within_chance)
from harness.schedule import GATEWAY_BACKOFF, HIVE_BACKOFF, BackoffSchedule, Problem
from harness.timing import Clock, choose_scale, resolutions_of
from reference.common.defects import NO_JITTER_ACROSS_CALLS, SAME_JITTER_WITHIN_CALLS

import steps.test_gateway  # noqa: F401  (registers the gateway's timed phrases)
import steps.test_hive  # noqa: F401  (registers the hive's timed phrases)

TOL = 0.02             # the tolerance's floor, what this machine measures when quiet; scales are chosen for 2 x it
# each profile's schedule, the scale the plugin chooses at TOL, and the calls its jitter scenario makes
PROFILES = {"hive": (HIVE_BACKOFF, 0.15, 10), "gateway": (GATEWAY_BACKOFF, 0.16, 10)}
SEED = 20261202

# spec seconds before retry n, for one call: rng -> [delay before retry 1, ..., retry 5]
Jitter = Callable[[random.Random], list[float]]
Noise = Callable[[random.Random], float]


def retries(schedule: BackoffSchedule) -> range:
    return range(1, schedule.max_attempts)


def true_jitter(schedule: BackoffSchedule) -> Jitter:
    windows = [(w.low, w.high) for w in map(schedule.window, retries(schedule))]
    return lambda rng: [rng.uniform(low, high) for low, high in windows]


def fixed(schedule: BackoffSchedule, offset: Callable[[int], float]) -> Jitter:
    """The same delays on every call: the unjittered delay plus `offset(n)` of the jitter range."""
    def delays(rng: random.Random) -> list[float]:
        return [schedule.window(n).low + offset(n) * (schedule.window(n).high - schedule.window(n).low)
                for n in retries(schedule)]
    return delays


def seeded_per_call(schedule: BackoffSchedule) -> Jitter:
    """Random-looking jitter, but every call starts the same seeded sequence."""
    return lambda rng: true_jitter(schedule)(random.Random(SEED))


def once_per_call(schedule: BackoffSchedule) -> Jitter:
    """A random place in the jitter range drawn once per call and kept at every retry."""
    def delays(rng: random.Random) -> list[float]:
        place = rng.random()
        return [w.low + place * (w.high - w.low) for w in map(schedule.window, retries(schedule))]
    return delays


def fixed_kinds(schedule: BackoffSchedule) -> dict[str, Jitter]:
    return {"no jitter": fixed(schedule, lambda n: 0.5 if schedule.jitter_factor != (1.0, 1.0) else 0.0),
            "constant factor 1.1 (top of the window)": fixed(schedule, lambda n: 1.0),
            "one seeded sequence per call": seeded_per_call(schedule),
            "jitter by attempt": fixed(schedule, lambda n: 0.2 * n)}   # gateway 0.9 + 0.04 n, hive + 0.2 n s


def quiet_noise(rng: random.Random) -> float:
    """How late one measured gap is, real seconds: the HTTP exchanges and the proxy (0.5 to 3 ms)
    and the sleep waking late (exponential, mean 2 ms), never beyond the tolerance (which is
    measured as an upper bound of exactly this)."""
    return min(rng.uniform(0.0005, 0.003) + rng.expovariate(500.0), TOL * 0.999)


def stormy_noise(rng: random.Random) -> float:
    """Quiet noise plus, in 3 % of the gaps, a scheduling stall of up to three tolerances."""
    late = rng.uniform(0.0005, 0.003) + rng.expovariate(500.0)
    return late + (rng.uniform(0.0, 3 * TOL) if rng.random() < 0.03 else 0.0)


def no_noise(rng: random.Random) -> float:
    return 0.0


def scenario(jitter: Jitter, noise: Noise, scale: float, rng: random.Random, calls: int) -> list[list[float]]:
    """The attempt times the fake would record for `calls` calls, real seconds."""
    recorded = []
    for call in range(calls):
        times = [1000.0 * (call + 1)]
        for delay in jitter(rng):
            times.append(times[-1] + delay * scale + noise(rng))
        recorded.append(times)
    return recorded


def upper_quantile(runs: int, p: float, beyond: float = 1e-9) -> int:
    """The count of Binomial(runs, p) that is exceeded with a chance below `beyond`."""
    pmf = (1 - p) ** runs
    cdf, k = pmf, 0
    while 1 - cdf >= beyond:
        pmf *= (runs - k) / (k + 1) * p / (1 - p)
        cdf += pmf
        k += 1
    return k


# -- fixed "jitter" fails ---------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_every_kind_of_fixed_jitter_fails_as_no_jitter_across_calls(profile: str) -> None:
    schedule, scale, calls = PROFILES[profile]
    clock, rng = Clock(scale, TOL), random.Random(f"fixed-{profile}")
    for kind, jitter in fixed_kinds(schedule).items():
        for _ in range(300):
            verdict = check_jitter(scenario(jitter, quiet_noise, scale, rng, calls), schedule, clock)
            assert verdict.undecided is None and verdict.no_jitter and not verdict.ok, (kind, str(verdict))
            assert not verdict.out_of_window, (kind, str(verdict))   # every delay inside its window: (b) catches it
    assert NO_JITTER_ACROSS_CALLS in str(verdict)   # what the defects' catch is matched against


@pytest.mark.parametrize("profile", PROFILES)
def test_jitter_drawn_once_per_call_fails_as_the_same_jitter_within_calls_though_it_varies_across_them(
        profile: str) -> None:
    schedule, scale, calls = PROFILES[profile]
    clock, rng = Clock(scale, TOL), random.Random(f"once-{profile}")
    for _ in range(300):
        verdict = check_jitter(scenario(once_per_call(schedule), quiet_noise, scale, rng, calls), schedule, clock)
        assert verdict.undecided is None and not verdict.out_of_window, str(verdict)
        assert verdict.same_within_calls and not verdict.no_jitter and not verdict.ok, str(verdict)
    assert SAME_JITTER_WITHIN_CALLS in str(verdict) and NO_JITTER_ACROSS_CALLS not in str(verdict)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_stall_in_one_call_does_not_hide_a_factor_drawn_once_per_call_but_stalls_in_two_calls_do(
        profile: str) -> None:
    schedule, scale, count = PROFILES[profile]
    clock = Clock(scale, TOL)
    calls = scenario(once_per_call(schedule), quiet_noise, scale, random.Random(4), count)
    calls[1][-1] += 5 * TOL                                   # call 2's last arrival stalled
    once = check_jitter(calls, schedule, clock)
    assert once.varying_calls == (2,) and once.same_within_calls, str(once)
    assert "in every call but call 2 (which a stall may spread)" in str(once)
    calls[4][-1] += 5 * TOL                                   # and call 5's
    assert check_jitter(calls, schedule, clock).ok            # the limit of what the check can catch


@pytest.mark.parametrize("profile", PROFILES)
def test_a_stall_that_spreads_one_retry_does_not_hide_a_fixed_sequence_but_stalls_at_two_retries_do(
        profile: str) -> None:
    schedule, scale, count = PROFILES[profile]
    clock = Clock(scale, TOL)
    calls = scenario(fixed_kinds(schedule)["jitter by attempt"], quiet_noise, scale, random.Random(3), count)
    calls[1][2:] = [t + 2.5 * TOL for t in calls[1][2:]]     # call 2 stalled before retry 2
    once = check_jitter(calls, schedule, clock)
    assert once.varying == (2,) and once.no_jitter and not once.out_of_window, str(once)
    assert "at every retry that can show it but retry 2 (which a stall may spread)" in str(once)
    calls[2][3:] = [t + 2.5 * TOL for t in calls[2][3:]]     # and call 3 before retry 3
    twice = check_jitter(calls, schedule, clock)
    assert twice.varying == (2, 3) and twice.ok               # the limit of what the check can catch


@pytest.mark.parametrize("kind", ["jitter by attempt", "true jitter"])
def test_a_stall_at_one_arrival_widens_only_the_delay_it_held_up(kind: str) -> None:
    """With each delay's own tolerance, a 160 ms stall that held up one arrival leaves the other
    delays judged at the quiet tolerance: a fixed sequence is still caught and true jitter still
    passes, where one tolerance for every delay could no longer decide."""
    schedule, scale, count = PROFILES["hive"]
    jitter = true_jitter(schedule) if kind == "true jitter" else fixed_kinds(schedule)[kind]
    calls = scenario(jitter, quiet_noise, scale, random.Random(7), count)
    stall = 8 * TOL
    calls[1][-1] += stall                                      # call 2's last arrival stamped in a stall
    stalled = calls[1][-1]

    def delay_clock(sent: float, next_sent: float) -> Clock:
        return Clock(scale, TOL + (stall if stalled in (sent, next_sent) else 0.0))

    verdict = check_jitter(calls, schedule, Clock(scale, 0.0), delay_clock=delay_clock)
    assert verdict.undecided is None and not verdict.out_of_window, str(verdict)
    assert verdict.ok == (kind == "true jitter"), str(verdict)
    assert verdict.tolerance == pytest.approx(TOL + stall)     # what the report shows: the widest it used
    assert check_jitter(calls, schedule, Clock(scale, TOL + stall)).undecided is not None


def test_the_defects_fixed_sequences_are_what_the_check_is_fed() -> None:
    hive_by_attempt = fixed_kinds(HIVE_BACKOFF)["jitter by attempt"](random.Random())
    assert hive_by_attempt == pytest.approx([1.2, 2.4, 4.6, 8.8, 17.0])
    gateway_by_attempt = fixed_kinds(GATEWAY_BACKOFF)["jitter by attempt"](random.Random())
    assert gateway_by_attempt == pytest.approx([b * (0.9 + 0.04 * n) for n, b in enumerate([1, 2, 4, 8, 16], 1)])


def test_true_jitter_passes_and_says_which_retries_varied() -> None:
    schedule, scale, calls = PROFILES["hive"]
    verdict = check_jitter(scenario(true_jitter(schedule), quiet_noise, scale, random.Random(5), calls), schedule,
                           Clock(scale, TOL))
    assert verdict.ok and verdict.undecided is None
    assert "vary across calls by more than two delays' tolerances (up to 2 x 20.0 ms" in str(verdict)
    assert f"and within calls {', '.join(map(str, range(1, calls + 1)))} the delays lie at places" in str(verdict)
    assert verdict.false_failure == pytest.approx(JitterResolution(schedule, calls).false_failure(scale, TOL))


def test_a_delay_outside_its_window_fails_naming_its_call_even_when_the_variation_cannot_be_judged() -> None:
    schedule, scale, _ = PROFILES["hive"]
    calls = scenario(true_jitter(schedule), no_noise, scale, random.Random(1), calls=1)
    calls[0][3:] = [t + 0.1 for t in calls[0][3:]]        # retry 3 waited 100 ms (1 spec s) too long
    verdict = check_jitter(calls, schedule, Clock(scale, TOL))
    assert verdict.undecided is not None and not verdict.ok
    [violation] = verdict.out_of_window
    assert (violation.problem, violation.attempt, violation.call) == (Problem.TOO_LATE, 4, 1)
    assert str(verdict).startswith("call 1: attempt 4 came too late")


def test_attempts_beyond_the_allowed_ones_are_left_to_the_schedule_check() -> None:
    schedule, scale, count = PROFILES["hive"]
    calls = scenario(true_jitter(schedule), no_noise, scale, random.Random(2), count)
    calls[0].append(calls[0][-1] + 0.001)
    assert len(check_jitter(calls, schedule, Clock(scale, TOL)).retries) == 5


# -- the statistic and its false-failure rate -----------------------------------------------------

def test_the_chance_is_the_range_of_k_uniforms_and_at_most_one_retry_may_vary() -> None:
    assert spread_within_chance(2, 0.02, 0.1) == pytest.approx(2 * 0.2 - 0.2 ** 2)
    assert spread_within_chance(4, 0.02, 0.1) == pytest.approx(4 * 0.2 ** 3 - 3 * 0.2 ** 4)   # 0.0272
    assert spread_within_chance(1, 0.02, 0.1) == 1.0 and spread_within_chance(3, 0.02, 0.02) == 1.0
    # within a call: equal errors, the range of all five positions within two errors ...
    assert positions_agree_chance([0.1] * 5) == pytest.approx(5 * 0.2 ** 4 - 4 * 0.2 ** 5)
    assert positions_agree_chance([0.6, 0.5]) == 1.0 and positions_agree_chance([0.1]) == 1.0
    # ... unequal ones, every position near the one with the least error: given it, the others
    # fall near it independently
    assert agree_with_one_chance([0.1]) == pytest.approx(2 * 0.1 - 0.1 ** 2)
    assert positions_agree_chance([0.1, 0.2, 0.1, 0.6]) == pytest.approx(agree_with_one_chance([0.2, 0.3, 0.7]))
    assert agree_with_one_chance([0.1, 0.4, 0.05]) == pytest.approx(0.0122448, rel=1e-5)   # a fine midpoint sum's
    assert positions_agree_chance([1.0, 0.5, 0.25, 0.125, 0.0625]) == pytest.approx(
        agree_with_one_chance([1.0625, 0.5625, 0.3125, 0.1875]))                       # the gateway's, at 0.1
    p = [0.5, 0.1, 0.2]
    none, only_first, only_second, only_third = 0.5 * 0.1 * 0.2, 0.5 * 0.1 * 0.2, 0.5 * 0.9 * 0.2, 0.5 * 0.1 * 0.8
    assert at_most_varying(p) == pytest.approx(none + only_first + only_second + only_third)
    assert at_most_varying(p, excused=0) == pytest.approx(0.01) and at_most_varying([0.3]) == 1.0


@pytest.mark.parametrize("profile", PROFILES)
def test_true_jitter_fails_no_more_often_than_the_stated_bound(profile: str) -> None:
    """100 000 scenarios of true jitter with realistic noise, at the scale the plugin chooses for
    a 20 ms tolerance: the measured false-failure rate is within the check's bound (and that
    bound within the stated 1e-4)."""
    schedule, scale, calls = PROFILES[profile]
    clock, rng, runs = Clock(scale, TOL), random.Random(f"false-failures-{profile}"), 100_000
    bound = JitterResolution(schedule, calls).false_failure(scale, TOL)
    assert bound <= JITTER_FALSE_FAILURE
    failed = sum(not check_jitter(scenario(true_jitter(schedule), quiet_noise, scale, rng, calls), schedule, clock).ok
                 for _ in range(runs))
    assert failed <= upper_quantile(runs, bound), f"{failed} of {runs} failed; the bound is {bound:.2g}"
    assert failed / runs <= JITTER_FALSE_FAILURE


@pytest.mark.parametrize(("profile", "scale", "calls"), [("hive", 0.1, 4), ("gateway", 0.1, 5), ("hive", 0.12, 3)])
def test_the_bound_is_exact_without_noise_and_noise_only_lowers_it(profile: str, scale: float, calls: int) -> None:
    """Where false failures are frequent enough to count (the check is forced to judge with
    `target=1`): without noise the rate of each test is its bound (across calls: at most one
    retry spreads beyond the tolerance; within calls: at most one call's positions differ by more
    than their errors), or below it; with noise independent of the jitter, stalls beyond the
    tolerance included, it is no higher."""
    schedule = PROFILES[profile][0]
    clock, runs = Clock(scale, TOL), 20_000
    resolution = JitterResolution(schedule, calls)
    # within calls the bound is exact where every retry's range is as wide (the hive's); the
    # gateway's narrow early ranges leave it an upper bound only
    for test, bound, exact_bound in (("no_jitter", resolution.across_calls(scale, TOL), True),
                                     ("same_within_calls", resolution.within_calls(scale, TOL), profile == "hive")):
        assert 0.001 < bound < 0.5, (test, bound)
        sigma = math.sqrt(bound * (1 - bound) / runs)
        for noise, exact in ((no_noise, exact_bound), (stormy_noise, False)):
            rng = random.Random(f"bound-{profile}-{scale}-{calls}-{noise.__name__}")
            rate = sum(getattr(check_jitter(scenario(true_jitter(schedule), noise, scale, rng, calls), schedule, clock,
                                            target=1.0), test) for _ in range(runs)) / runs
            assert rate <= bound + 5 * sigma, (test, noise.__name__, rate, bound)
            if exact:
                assert rate >= bound - 5 * sigma, (test, rate, bound)


# -- undecidable: too few calls, too coarse a scale ----------------------------------------------

def test_too_few_calls_cannot_decide_and_say_how_many_would() -> None:
    schedule, scale = HIVE_BACKOFF, 0.22     # where four calls decide at TOL and three do not
    flat = scenario(fixed_kinds(schedule)["no jitter"], no_noise, scale, random.Random(), calls=3)
    verdict = check_jitter(flat, schedule, Clock(scale, TOL))
    assert verdict.ok and not verdict.no_jitter    # never a failure it could not be sure of ...
    assert verdict.undecided is not None           # ... and never a pass: the step skips
    assert "needs time scale 0.26 or more with 3 calls, or 4 calls at time scale 0.22" in verdict.undecided
    one = check_jitter(flat[:1], schedule, Clock(scale, TOL))
    assert one.undecided is not None and "at least 2 calls, or 4 calls" in one.undecided


def test_calls_answered_without_retries_cannot_decide_and_say_so() -> None:
    """Calls that made one attempt each (a breaker that opened on them) leave no delay to compare:
    no scale or number of calls would help, so the reason says what is missing."""
    schedule, scale, _ = PROFILES["gateway"]
    verdict = check_jitter([[0.0], [0.001], [0.002]], schedule, Clock(scale, TOL))
    assert verdict.ok and verdict.undecided is not None
    assert "no retry was made by two of the 3 calls (attempts per call: 1, 1, 1)" in verdict.undecided


def test_too_coarse_a_scale_cannot_decide_and_says_which_would() -> None:
    schedule = HIVE_BACKOFF
    flat = scenario(fixed_kinds(schedule)["no jitter"], no_noise, 0.1, random.Random(), calls=4)
    verdict = check_jitter(flat, schedule, Clock(0.1, TOL))
    assert verdict.ok and verdict.undecided is not None
    assert "needs time scale 0.15 or more with 4 calls, or 6 calls at time scale 0.1" in verdict.undecided
    assert check_jitter(flat, schedule, Clock(0.15, TOL)).no_jitter   # and there it decides


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("tolerance", [0.02, 0.03, 0.05])
def test_the_resolution_is_the_smallest_scale_that_meets_the_target(profile: str, tolerance: float) -> None:
    schedule, _, calls = PROFILES[profile]
    resolution = JitterResolution(schedule, calls)
    needed = resolution.needed_scale(tolerance)
    assert resolution.false_failure(needed, tolerance) <= JITTER_FALSE_FAILURE
    assert resolution.false_failure(needed * 0.999, tolerance) > JITTER_FALSE_FAILURE
    for scale in (needed * 0.99, needed, needed * 1.01):   # the clock and the verdict agree on deciding
        flat = scenario(fixed_kinds(schedule)["no jitter"], no_noise, scale, random.Random(), calls)
        verdict = check_jitter(flat, schedule, Clock(scale, tolerance))
        assert (verdict.undecided is None) is Clock(scale, tolerance).decides(resolution)


def test_the_plugin_picks_the_jitter_scenarios_scales_from_their_phrases() -> None:
    hive = resolutions_of(["the gaps between the requests to the hub are jittered across the 10 downloads"])
    gateway = resolutions_of(['the gaps between the requests to provider "primary" are jittered across the 10 calls'])
    assert hive == [JitterResolution(HIVE_BACKOFF, 10)] and gateway == [JitterResolution(GATEWAY_BACKOFF, 10)]
    assert choose_scale(0.1, hive, TOL) == PROFILES["hive"][1]
    assert choose_scale(0.1, gateway, TOL) == PROFILES["gateway"][1]
    assert JitterResolution(HIVE_BACKOFF, 1).needed_scale(TOL) == math.inf
    assert choose_scale(0.1, [JitterResolution(HIVE_BACKOFF, 1)], TOL) == 1.0
