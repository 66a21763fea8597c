//! Traffic: sessions arrive as a non-homogeneous Poisson process over the
//! calendar (daily and weekly profiles, bursts); each session sends page
//! requests separated by think times, each to a route chosen by weight.
//!
//! Traffic is open-loop: a user's next request does not wait for a slow
//! response. The offered load is then the same whatever happens downstream,
//! which is the load a capacity plan must carry, and two scenarios that
//! differ only downstream see exactly the same requests.

use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use super::Slab;
use crate::scenario::{CountDist, DurationSampler, Scenario};
use crate::sim::{NANOS_PER_SEC, RngStream, SimDuration, SimTime, duration_from_secs};

const HOUR: SimTime = 3_600 * NANOS_PER_SEC;
const DAY: SimTime = 24 * HOUR;

/// Weights normalised to mean 1.
fn normalised(weights: &[f64]) -> Vec<f64> {
    let mean = weights.iter().sum::<f64>() / weights.len() as f64;
    weights.iter().map(|w| w / mean).collect()
}

/// The session arrival rate over time: piecewise constant between hour
/// boundaries and burst edges.
#[derive(Clone, Debug)]
pub struct ArrivalRate {
    /// Mean sessions per second before profiles and bursts.
    base_per_sec: f64,
    daily: Vec<f64>,
    weekly: Vec<f64>,
    first_weekday: usize,
    /// (start, end, multiplier) of each burst.
    bursts: Vec<(SimTime, SimTime, f64)>,
    /// The constant-rate segment the last arrival fell in, so the next
    /// arrival in it skips the calendar arithmetic.
    segment: Segment,
}

/// A span of constant rate: [start, end) at `rate` per second.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: SimTime,
    end: SimTime,
    rate: f64,
}

impl ArrivalRate {
    /// The session rate for `users` users under `scenario`'s traffic.
    pub fn new(scenario: &Scenario, users: u64) -> Self {
        let traffic = &scenario.traffic;
        let sessions_per_day =
            users as f64 * traffic.daily_active_share.0 * traffic.sessions_per_active_user;
        Self::per_day(scenario, sessions_per_day)
    }

    /// `per_day` arrivals a day on average, shaped by `scenario`'s profiles
    /// and bursts.
    pub fn per_day(scenario: &Scenario, per_day: f64) -> Self {
        let traffic = &scenario.traffic;
        let weekly = match &traffic.weekly_profile {
            Some(profile) => normalised(profile),
            None => vec![1.0; 7],
        };
        Self {
            base_per_sec: per_day / 86_400.0,
            daily: normalised(&traffic.daily_profile),
            weekly,
            first_weekday: scenario.start.weekday(),
            bursts: traffic
                .bursts
                .iter()
                .map(|b| {
                    let start = b.at.0.nanos();
                    (
                        start,
                        start.saturating_add(b.duration.nanos()),
                        b.multiplier,
                    )
                })
                .collect(),
            segment: Segment {
                start: 0,
                end: 0,
                rate: 0.0,
            },
        }
    }

    /// Sessions per second at `at`.
    pub fn at(&self, at: SimTime) -> f64 {
        let hour = ((at % DAY) / HOUR) as usize;
        let weekday = (self.first_weekday + (at / DAY) as usize) % 7;
        let bursts: f64 = self
            .bursts
            .iter()
            .filter(|(start, end, _)| (*start..*end).contains(&at))
            .map(|(_, _, multiplier)| multiplier)
            .product();
        self.base_per_sec * self.daily[hour] * self.weekly[weekday] * bursts
    }

    /// The first time after `at` where the rate may change.
    fn next_change(&self, at: SimTime) -> SimTime {
        let next_hour = (at / HOUR + 1) * HOUR;
        self.bursts
            .iter()
            .flat_map(|(start, end, _)| [*start, *end])
            .filter(|edge| *edge > at)
            .fold(next_hour, SimTime::min)
    }

    /// The constant-rate segment holding `at`: the rate is constant from one
    /// change to the next, so it is the same for every time in between.
    #[inline(always)]
    fn segment_at(&mut self, at: SimTime) -> Segment {
        if !(self.segment.start..self.segment.end).contains(&at) {
            self.segment = self.segment_from(at);
        }
        self.segment
    }

    /// The constant-rate segment from `at` to the next change.
    fn segment_from(&self, at: SimTime) -> Segment {
        Segment {
            start: at,
            end: self.next_change(at),
            rate: self.at(at),
        }
    }

    /// The next arrival after `now`, by inversion of the integrated rate
    /// (exact for a piecewise-constant rate), or `None` before `end`.
    #[inline(always)]
    pub fn next_arrival(
        &mut self,
        now: SimTime,
        end: SimTime,
        rng: &mut RngStream,
    ) -> Option<SimTime> {
        let mut remaining: f64 = Exp1.sample(rng);
        let mut at = now;
        while at < end {
            let Segment {
                rate, end: change, ..
            } = self.segment_at(at);
            let segment_end = change.min(end);
            // The gap if it ends in this segment. Most end far inside it:
            // under half its span, `rate * span >= remaining` holds with
            // room no rounding can take away, so neither the span in
            // seconds nor the test is computed.
            let gap = duration_from_secs(remaining / rate);
            let span_nanos = segment_end - at;
            if gap < span_nanos / 2 {
                return Some(at + gap.max(1));
            }
            let span = span_nanos as f64 / NANOS_PER_SEC as f64;
            if rate * span >= remaining {
                return Some(at + gap.max(1));
            }
            remaining -= rate * span;
            at = segment_end;
        }
        None
    }

    /// Expected sessions in one day, averaged over the week, without bursts.
    pub fn mean_sessions_per_day(&self) -> f64 {
        self.base_per_sec * 86_400.0
    }

    /// The highest hourly session rate per second, profiles applied, bursts excluded.
    pub fn peak_hour_per_sec(&self) -> f64 {
        let daily = self.daily.iter().copied().fold(0.0, f64::max);
        let weekly = self.weekly.iter().copied().fold(0.0, f64::max);
        self.base_per_sec * daily * weekly
    }
}

/// One user's visit.
#[derive(Clone, Copy, Debug)]
pub struct Session {
    /// The user, uniformly drawn among the tier's users.
    pub user: u32,
    /// Page requests still to send.
    pub requests_left: u32,
}

/// A session's next page request.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// The route.
    pub route: usize,
    /// The user.
    pub user: u32,
    /// If another page follows: the session's id (it stays stored until
    /// its last page) and the think time before it.
    pub next: Option<(u32, SimDuration)>,
}

/// Route choice and session shapes.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// When sessions arrive.
    pub rate: ArrivalRate,
    requests_per_session: CountDist,
    think_time: DurationSampler,
    /// Cumulative route weights, for routes that sessions call.
    cumulative: Vec<(f64, usize)>,
    /// The last of those routes, for a draw past the last edge by rounding
    /// (a compiled scenario has one at least).
    last_route: usize,
    sessions: Slab<Session>,
    users: u32,
}

impl Traffic {
    /// Traffic of `users` users.
    pub fn new(scenario: &Scenario, users: u64) -> Self {
        let mut total = 0.0;
        let mut cumulative = Vec::new();
        for (index, route) in scenario.routes.iter().enumerate() {
            let weight = route.weight;
            if weight > 0.0 {
                total += weight;
                cumulative.push((total, index));
            }
        }
        for entry in &mut cumulative {
            entry.0 /= total;
        }
        Self {
            rate: ArrivalRate::new(scenario, users),
            requests_per_session: scenario.traffic.requests_per_session,
            think_time: scenario.traffic.think_time.sampler(),
            last_route: cumulative.last().map_or(0, |&(_, route)| route),
            cumulative,
            sessions: Slab::default(),
            users: users.min(u64::from(u32::MAX)) as u32,
        }
    }

    /// Opens a session. It is stored (see [`Traffic::next_page`]) only
    /// while it has pages to send after the first: most sessions of a
    /// one-page scenario never are.
    pub fn open_session(&self, rng: &mut RngStream) -> Session {
        Session {
            user: rng.random_range(0..self.users.max(1)),
            requests_left: self.requests_per_session.sample(rng),
        }
    }

    /// Takes the first page request of a session just opened, storing the
    /// session if pages follow.
    pub fn first_page(&mut self, session: Session, rng: &mut RngStream) -> Page {
        self.page(session, None, rng)
    }

    /// Takes the next page request of stored session `id`; drops it after its last.
    pub fn next_page(&mut self, id: u32, rng: &mut RngStream) -> Page {
        let session = *self.sessions.get(id);
        self.page(session, Some(id), rng)
    }

    /// `session`'s next page request (`id`: where it is stored, if it is):
    /// its route, and the think time before the next if one follows, with
    /// the session kept stored until then.
    #[inline(always)]
    fn page(&mut self, mut session: Session, id: Option<u32>, rng: &mut RngStream) -> Page {
        let draw: f64 = rng.random();
        let route = self
            .cumulative
            .iter()
            .find(|(edge, _)| draw < *edge)
            .map_or(self.last_route, |(_, route)| *route);
        session.requests_left = session.requests_left.saturating_sub(1);
        let next = if session.requests_left > 0 {
            let think = self.think_time.sample(rng);
            let id = match id {
                Some(id) => {
                    *self.sessions.get_mut(id) = session;
                    id
                }
                None => self.sessions.insert(session),
            };
            Some((id, think))
        } else {
            if let Some(id) = id {
                self.sessions.remove(id);
            }
            None
        };
        Page {
            route,
            user: session.user,
            next,
        }
    }
}

/// Abusive clients: each is active for one stretch of `active_per_day` a
/// day, starting at a uniformly random time, and sends Poisson requests at
/// `rate` to its routes, uniformly, while active. Their identifiers follow
/// the users' (`users..users+count`), with IP addresses of their own.
#[derive(Clone, Debug)]
pub struct AbusiveClients {
    first_id: u32,
    per_sec: f64,
    active: SimTime,
    routes: Vec<usize>,
    /// Per client, the end of its current active stretch.
    active_until: Vec<SimTime>,
}

impl AbusiveClients {
    /// The abusive clients of `scenario` for `users` users, if any.
    pub fn new(scenario: &Scenario, users: u64) -> Option<Self> {
        let config = scenario.traffic.abusive_clients.as_ref()?;
        let count = config.count_among(users);
        Some(Self {
            first_id: users.min(u64::from(u32::MAX)) as u32,
            per_sec: config.rate.per_sec(),
            active: config.active_per_day.nanos().min(DAY),
            routes: config.routes.iter().map(|r| r.index()).collect(),
            active_until: vec![0; count as usize],
        })
        .filter(|clients| !clients.active_until.is_empty() && clients.active > 0)
    }

    /// How many clients there are.
    pub fn count(&self) -> u32 {
        self.active_until.len() as u32
    }

    /// The identifier of client `index`.
    pub fn id(&self, index: u32) -> u32 {
        self.first_id + index
    }

    /// Client `index`'s next request after `now` (or its first, from its
    /// stretch of day 0 when `now` is 0), before `end`.
    pub fn next_request(
        &mut self,
        index: u32,
        now: SimTime,
        end: SimTime,
        rng: &mut RngStream,
    ) -> Option<SimTime> {
        let mut after = now;
        loop {
            let until = &mut self.active_until[index as usize];
            if after < *until {
                let gap: f64 = Exp1.sample(rng);
                let at = after + duration_from_secs(gap / self.per_sec).max(1);
                if at < *until {
                    return (at < end).then_some(at);
                }
            }
            // The stretch is over: the next day's.
            let day = if *until == 0 {
                0
            } else {
                (*until - 1) / DAY + 1
            };
            let start = day * DAY + (rng.random::<f64>() * (DAY - self.active) as f64) as SimTime;
            if start >= end {
                return None;
            }
            *until = start + self.active;
            after = start;
        }
    }

    /// A route for client's next request.
    pub fn route(&self, rng: &mut RngStream) -> usize {
        self.routes[rng.random_range(0..self.routes.len())]
    }
}
