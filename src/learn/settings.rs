//! What a policy declares for a rule whose auto-approve threshold may adapt.

use std::fmt;

/// Whether a certified move waits for a person or takes effect by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A lower threshold is a proposal until a person accepts it.
    Propose,
    /// A lower threshold within the floor and ceiling takes effect at once, audited.
    Auto,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Propose => "propose",
            Mode::Auto => "auto",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "propose" => Some(Mode::Propose),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }
}

/// The guarantee and its limits: with probability at least `1 - delta`, the bad rate among
/// what the threshold auto-approves is at most `alpha`; the threshold stays within
/// `[floor, ceiling]`, on a grid of `step`, and moves down only on `min_labels` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub alpha: f64,
    pub delta: f64,
    pub floor: f64,
    pub ceiling: f64,
    pub step: f64,
    pub min_labels: u64,
    pub audit_rate: f64,
    /// Labels kept for the estimate: older ones fall out, so that the estimate follows the
    /// agent as it changes.
    pub window: u64,
    pub mode: Mode,
    /// Each agent principal the rule's calls come from learns its own threshold: the class
    /// is the rule's globs and the agent, so one careless agent does not cost a careful one
    /// its automation, nor borrow it.
    pub per_agent: bool,
}

/// The most grid points a rule may declare: each evaluation walks them, so the number bounds
/// its cost.
pub const MAX_GRID_POINTS: usize = 1_000;

/// The most labels a window may keep (memory per match class).
pub const MAX_WINDOW: u64 = 1_000_000;

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            alpha: 0.05,
            delta: 0.1,
            floor: 0.5,
            ceiling: 1.0,
            step: 0.01,
            min_labels: 200,
            audit_rate: 0.05,
            window: 5_000,
            mode: Mode::Propose,
            per_agent: false,
        }
    }
}

/// A setting out of its range, named as the policy names it.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingError {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.key, self.message)
    }
}

impl Settings {
    /// Every setting within its range, or the first one that is not.
    pub fn check(&self) -> Result<(), SettingError> {
        let open_unit = |key: &'static str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(SettingError {
                    key,
                    message: format!("must be strictly between 0 and 1, not {v}"),
                })
            }
        };
        open_unit("alpha", self.alpha)?;
        open_unit("delta", self.delta)?;
        let unit = |key: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(SettingError {
                    key,
                    message: format!("must be within [0, 1], not {v}"),
                })
            }
        };
        unit("floor", self.floor)?;
        unit("ceiling", self.ceiling)?;
        unit("auditRate", self.audit_rate)?;
        if self.floor > self.ceiling {
            return Err(SettingError {
                key: "floor",
                message: format!(
                    "({}) must not be above `ceiling` ({})",
                    self.floor, self.ceiling
                ),
            });
        }
        if !(self.step > 0.0 && self.step <= 1.0) {
            return Err(SettingError {
                key: "step",
                message: format!("must be within (0, 1], not {}", self.step),
            });
        }
        let points = ((self.ceiling - self.floor) / self.step).ceil() as usize + 1;
        if points > MAX_GRID_POINTS {
            return Err(SettingError {
                key: "step",
                message: format!(
                    "makes {points} thresholds between floor and ceiling; at most {MAX_GRID_POINTS}"
                ),
            });
        }
        if self.min_labels == 0 {
            return Err(SettingError {
                key: "minLabels",
                message: "must be at least 1".into(),
            });
        }
        if self.window < self.min_labels || self.window > MAX_WINDOW {
            return Err(SettingError {
                key: "window",
                message: format!(
                    "must be between `minLabels` ({}) and {MAX_WINDOW}, not {}",
                    self.min_labels, self.window
                ),
            });
        }
        Ok(())
    }

    /// The thresholds a move may land on, strictest first: the ceiling, then one step lower
    /// each, down to the floor (which is always one of them).
    pub fn grid(&self) -> Vec<f64> {
        let mut points = Vec::new();
        let mut i = 0usize;
        loop {
            let point = self.ceiling - i as f64 * self.step;
            if point <= self.floor + 1e-12 {
                points.push(self.floor);
                break;
            }
            points.push(point);
            i += 1;
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_runs_from_ceiling_to_floor() {
        let s = Settings {
            floor: 0.8,
            ceiling: 1.0,
            step: 0.05,
            ..Settings::default()
        };
        let grid = s.grid();
        assert_eq!(grid.len(), 5);
        assert_eq!(grid[0], 1.0);
        assert_eq!(*grid.last().unwrap(), 0.8);
        assert!(grid.windows(2).all(|w| w[0] > w[1]));
        let uneven = Settings { floor: 0.73, ..s };
        assert_eq!(*uneven.grid().last().unwrap(), 0.73);
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let bad = |s: Settings| s.check().unwrap_err().key;
        let d = Settings::default;
        assert_eq!(bad(Settings { alpha: 0.0, ..d() }), "alpha");
        assert_eq!(bad(Settings { delta: 1.0, ..d() }), "delta");
        assert_eq!(
            bad(Settings {
                floor: 0.95,
                ceiling: 0.9,
                ..d()
            }),
            "floor"
        );
        assert_eq!(bad(Settings { step: 0.0, ..d() }), "step");
        assert_eq!(bad(Settings { step: 1e-6, ..d() }), "step");
        assert_eq!(
            bad(Settings {
                audit_rate: 1.5,
                ..d()
            }),
            "auditRate"
        );
        assert_eq!(bad(Settings { window: 10, ..d() }), "window");
        assert_eq!(
            bad(Settings {
                alpha: f64::NAN,
                ..d()
            }),
            "alpha"
        );
        assert!(d().check().is_ok());
    }
}
