//! Why a stored rANS chunk is rejected: the checks of format.md §5.4, named once for every
//! decoder (the oracle, the CPU decoder, and the GPU kernels' status codes in `wcodec-cuda`).

use std::fmt;

/// A stored rANS chunk that breaks a rule of format.md §5.4. Each is proof of corruption: a
/// well-formed chunk never triggers one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Shorter than the lane states, or the words are not whole 16-bit words.
    BadSize,
    /// A lane's initial state is below `RANS_L`.
    BadState,
    /// The decoder needed more words than the chunk has.
    EarlyEnd,
    /// Words are left over after the last symbol.
    Trailing,
    /// A lane did not end at `RANS_L`, where every encoder starts it.
    FinalState,
}

impl ChunkError {
    /// The message, as the decoders word it (lowercase, no trailing period).
    pub const fn message(self) -> &'static str {
        match self {
            ChunkError::BadSize => "rANS chunk has a bad size",
            ChunkError::BadState => "rANS lane state below the lower bound",
            ChunkError::EarlyEnd => "rANS stream ends early",
            ChunkError::Trailing => "rANS stream has trailing words",
            ChunkError::FinalState => "rANS lane did not end in its initial state",
        }
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ChunkError {}

#[cfg(test)]
mod tests {
    use super::ChunkError;

    #[test]
    fn every_rule_has_its_own_message_in_the_error_style() {
        let all = [
            ChunkError::BadSize,
            ChunkError::BadState,
            ChunkError::EarlyEnd,
            ChunkError::Trailing,
            ChunkError::FinalState,
        ];
        let messages: std::collections::HashSet<String> =
            all.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), all.len());
        for m in &messages {
            assert!(m.starts_with("rANS ") && !m.ends_with('.'), "{m}");
        }
    }
}
