//! The one JSON object a subcommand prints, and whether its check passed.

use crate::json::Json;

pub struct Report {
    fields: Vec<(String, Json)>,
    reasons: Vec<String>,
}

impl Report {
    pub fn new() -> Report {
        Report {
            fields: Vec::new(),
            reasons: Vec::new(),
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Json>) {
        self.fields.push((key.to_owned(), value.into()));
    }

    /// Marks the check failed; the first few reasons are kept.
    pub fn fail(&mut self, reason: impl Into<String>) {
        if self.reasons.len() < 10 {
            self.reasons.push(reason.into());
        }
    }

    pub fn ok(&self) -> bool {
        self.reasons.is_empty()
    }

    pub fn into_json(self, check: &str) -> Json {
        let mut fields = vec![
            ("check".to_owned(), Json::str(check)),
            ("ok".to_owned(), Json::Bool(self.reasons.is_empty())),
        ];
        fields.extend(self.fields);
        if let Some(first) = self.reasons.first() {
            fields.push(("reason".to_owned(), Json::str(first)));
            if self.reasons.len() > 1 {
                fields.push(("reasons".to_owned(), self.reasons.into()));
            }
        }
        Json::Obj(fields)
    }
}
