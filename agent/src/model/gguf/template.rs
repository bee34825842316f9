//! The chat template of a GGUF model (`tokenizer.chat_template`), rendered with minijinja.
//!
//! Hugging Face chat templates are Jinja2 programs that receive `messages` (a list of
//! `{role, content}`), `add_generation_prompt`, `tools` and the special-token strings, and may
//! call `raise_exception(message)` or `strftime_now(format)`. This module provides exactly that
//! environment. A model without a template gets plain ChatML, the format all models learnat ships
//! with use.

use minijinja::{Environment, ErrorKind, Value, context};
use serde::Serialize;

use crate::model::{ChatMessage, Role};

/// Name under which the template is registered in its minijinja environment.
const TEMPLATE_NAME: &str = "chat";

/// ChatML, used when the GGUF file carries no template.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A message as the template sees it.
#[derive(Serialize)]
struct TemplateMessage<'a> {
    role: &'static str,
    content: &'a str,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// A compiled chat template.
///
/// ```
/// use learnat_agent::model::gguf::ChatTemplate;
/// use learnat_agent::ChatMessage;
/// let template = ChatTemplate::chatml();
/// let prompt = template.render(&[ChatMessage::user("hi")], true).unwrap();
/// assert_eq!(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
/// ```
#[derive(Debug)]
pub struct ChatTemplate {
    environment: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` / `eos_token` are the texts the template may insert.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate, String> {
        let mut environment = Environment::new();
        // Jinja2 as transformers configures it: trim_blocks and lstrip_blocks are on.
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        environment.add_function(
            "raise_exception",
            |message: String| -> Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("the chat template refused the conversation: {message}"),
                ))
            },
        );
        environment.add_function("strftime_now", |format: String| -> String {
            strftime_utc_now(&format)
        });
        environment
            .add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| format!("cannot compile the chat template: {e}"))?;
        Ok(ChatTemplate {
            environment,
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// Plain ChatML (`<|im_start|>role\ncontent<|im_end|>\n`).
    pub fn chatml() -> ChatTemplate {
        // The built-in template is known to compile.
        ChatTemplate::new(CHATML_TEMPLATE, "", "<|im_end|>")
            .unwrap_or_else(|e| panic!("built-in ChatML template: {e}"))
    }

    /// The Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt text for `messages`; with `add_generation_prompt` it ends with the opening of
    /// an assistant turn, ready for generation.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, String> {
        let messages: Vec<TemplateMessage<'_>> = messages
            .iter()
            .map(|m| TemplateMessage {
                role: role_name(m.role),
                content: &m.content,
            })
            .collect();
        let template = self
            .environment
            .get_template(TEMPLATE_NAME)
            .map_err(|e| format!("chat template missing: {e}"))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                tools => Value::UNDEFINED,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|e| format!("cannot render the chat template: {e:#}"))
    }
}

/// `strftime` for the few directives chat templates use (dates in system prompts), in UTC.
fn strftime_utc_now(format: &str) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (seconds / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let month_names = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month_name = month_names[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_system_user_and_generation_prompt() {
        let prompt = ChatTemplate::chatml()
            .render(
                &[
                    ChatMessage::system("be brief"),
                    ChatMessage::user("count users"),
                ],
                true,
            )
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\ncount users<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_becomes_an_error_with_the_message() {
        let template =
            ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
        let error = template.render(&[], false).unwrap_err();
        assert!(error.contains("no system role"), "{error}");
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert!(strftime_utc_now("%Y-%m-%d").len() == 10);
    }
}
