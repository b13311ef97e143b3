//! What a deploy is doing, on standard error: a spinner with the step and the time taken on a terminal, plain lines elsewhere.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner on standard error; hidden when it is not a terminal.
    pub fn start() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Moves on to `step`; without a terminal it is printed as a line.
    pub fn step(&self, step: String) {
        if self.bar.is_hidden() {
            eprintln!("{step}");
        }
        self.bar.set_message(step);
    }

    /// Prints `line` (of a build's log: the packages' output, untrusted) above the spinner,
    /// its control characters shown rather than obeyed on a terminal.
    pub fn line(&self, line: &str) {
        let shown = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            crate::shown_on_a_terminal(line)
        } else {
            line.to_owned()
        };
        self.bar.suspend(|| eprintln!("{shown}"));
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
