//! The rule-based assistant (BluRosiere's "fallback inteligente (sem API)"): answers about
//! scheduling, cancelling, rescheduling, opening hours, contact, prices/insurance, results and
//! emergencies in English, Brazilian Portuguese and Persian, with no provider at all.
//!
//! Language: the caller's `language` when given, else the script (Arabic script → `fa`),
//! else Portuguese keywords and diacritics (→ `pt-BR`), else English.
//! Emergencies always win: any message that looks like one is told to call emergency
//! services (192/SAMU in Brazil, 115 in Iran, the local number elsewhere), whatever else it asks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[serde(rename = "en")]
    En,
    #[serde(rename = "pt-BR")]
    PtBr,
    #[serde(rename = "fa")]
    Fa,
}

impl Language {
    /// Accepts `en`, `pt`, `pt-BR`, `pt_br`, `fa`, `fa-IR`, `per` ... (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let l = s.trim().to_ascii_lowercase().replace('_', "-");
        match l.split('-').next().unwrap_or("") {
            "en" | "eng" => Some(Language::En),
            "pt" | "por" => Some(Language::PtBr),
            "fa" | "per" | "fas" => Some(Language::Fa),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::PtBr => "pt-BR",
            Language::Fa => "fa",
        }
    }

    pub fn english_name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::PtBr => "Brazilian Portuguese",
            Language::Fa => "Persian (Farsi)",
        }
    }
}

const PT_WORDS: &[&str] = &[
    "consulta",
    "agendar",
    "agendamento",
    "marcar",
    "desmarcar",
    "cancelar",
    "remarcar",
    "horário",
    "horario",
    "olá",
    "ola",
    "obrigado",
    "obrigada",
    "você",
    "voce",
    "não",
    "nao",
    "quero",
    "preciso",
    "como",
    "qual",
    "quando",
    "médico",
    "medico",
    "paciente",
    "dor",
    "bom dia",
    "boa tarde",
    "atendimento",
    "funciona",
    "telefone",
    "contato",
    "exame",
    "socorro",
];

/// Detects the language of a message from its script and keywords.
pub fn detect_language(text: &str) -> Language {
    let arabic = text.chars().filter(|c| matches!(*c as u32, 0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)).count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if arabic > 0 && arabic * 3 >= letters {
        return Language::Fa;
    }
    let lower = text.to_lowercase();
    let pt_hits = PT_WORDS.iter().filter(|w| contains_word(&lower, w)).count();
    let diacritics = lower
        .chars()
        .any(|c| matches!(c, 'ã' | 'õ' | 'ç' | 'á' | 'â' | 'ê' | 'ô' | 'í' | 'ú'));
    if pt_hits > 0 || diacritics {
        Language::PtBr
    } else {
        Language::En
    }
}

fn contains_word(haystack: &str, word: &str) -> bool {
    haystack.match_indices(word).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Emergency,
    Cancel,
    Reschedule,
    Schedule,
    Hours,
    Contact,
    Prices,
    Results,
    Greeting,
    Thanks,
    Unknown,
}

/// Keyword lists per intent, checked in this order (emergency first; cancel and reschedule
/// before schedule, since "cancel my appointment" also mentions an appointment).
const INTENTS: &[(Intent, &[&str])] = &[
    (
        Intent::Emergency,
        &[
            "emergency",
            "chest pain",
            "can't breathe",
            "cannot breathe",
            "difficulty breathing",
            "shortness of breath",
            "unconscious",
            "fainted",
            "stroke",
            "heart attack",
            "severe bleeding",
            "bleeding heavily",
            "suicide",
            "kill myself",
            "overdose",
            "seizure",
            "emergência",
            "emergencia",
            "urgência",
            "dor no peito",
            "falta de ar",
            "não consigo respirar",
            "desmaiou",
            "desmaio",
            "infarto",
            "avc",
            "sangramento",
            "convulsão",
            "suicídio",
            "socorro",
            "اورژانس",
            "درد قفسه سینه",
            "تنگی نفس",
            "نفس نمی",
            "بیهوش",
            "سکته",
            "خونریزی",
            "تشنج",
            "خودکشی",
            "فوری",
        ],
    ),
    (
        Intent::Cancel,
        &[
            "cancel",
            "call off",
            "cancelar",
            "desmarcar",
            "cancelamento",
            "لغو",
            "کنسل",
        ],
    ),
    (
        Intent::Reschedule,
        &[
            "reschedule",
            "change my appointment",
            "move my appointment",
            "another time",
            "remarcar",
            "reagendar",
            "mudar o horário",
            "mudar a consulta",
            "تغییر نوبت",
            "تغییر وقت",
            "جابجایی",
        ],
    ),
    (
        Intent::Schedule,
        &[
            "schedule",
            "book",
            "appointment",
            "make an appointment",
            "agendar",
            "marcar",
            "consulta",
            "agendamento",
            "نوبت",
            "وقت ملاقات",
            "رزرو",
            "وقت دکتر",
        ],
    ),
    (
        Intent::Hours,
        &[
            "hours",
            "open",
            "opening",
            "close",
            "closing",
            "horário",
            "horario",
            "funciona",
            "abre",
            "fecha",
            "ساعت",
            "باز",
            "تعطیل",
        ],
    ),
    (
        Intent::Contact,
        &[
            "contact",
            "phone",
            "call you",
            "email",
            "address",
            "telefone",
            "contato",
            "endereço",
            "ligar",
            "تماس",
            "تلفن",
            "آدرس",
            "ایمیل",
        ],
    ),
    (
        Intent::Prices,
        &[
            "price",
            "cost",
            "insurance",
            "pay",
            "preço",
            "valor",
            "convênio",
            "plano de saúde",
            "pagamento",
            "هزینه",
            "قیمت",
            "بیمه",
            "پرداخت",
        ],
    ),
    (
        Intent::Results,
        &[
            "result",
            "test result",
            "exam",
            "resultado",
            "exame",
            "جواب آزمایش",
            "نتیجه",
            "آزمایش",
        ],
    ),
    (
        Intent::Thanks,
        &[
            "thank",
            "obrigad",
            "valeu",
            "ممنون",
            "مرسی",
            "متشکر",
            "سپاس",
        ],
    ),
    (
        Intent::Greeting,
        &[
            "hello",
            "hi",
            "hey",
            "good morning",
            "good afternoon",
            "olá",
            "ola",
            "oi",
            "bom dia",
            "boa tarde",
            "boa noite",
            "سلام",
            "درود",
        ],
    ),
];

/// Contact details the clinic configured (`CLINIC_PHONE`, `CLINIC_HOURS`, `CLINIC_EMAIL`).
#[derive(Debug, Clone, Default)]
pub struct ClinicInfo {
    pub phone: Option<String>,
    pub hours: Option<String>,
    pub email: Option<String>,
}

pub fn classify(message: &str) -> Intent {
    let lower = message.to_lowercase();
    for (intent, words) in INTENTS {
        // Short Latin keywords ("hi", "oi", "book") must be whole words; phrases and Persian
        // (no case, no word boundary issues) can match anywhere.
        if words.iter().any(|w| {
            if w.len() <= 5 && w.is_ascii() {
                contains_word(&lower, w)
            } else {
                lower.contains(w)
            }
        }) {
            return *intent;
        }
    }
    Intent::Unknown
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleAnswer {
    pub reply: String,
    pub intent: Intent,
    pub language: Language,
}

/// The rule-based reply. `context` (BluRosiere's, e.g. "Paciente novo") adds a line for new patients.
pub fn answer(
    message: &str,
    context: Option<&str>,
    language: Option<Language>,
    clinic: &ClinicInfo,
) -> RuleAnswer {
    let language = language.unwrap_or_else(|| detect_language(message));
    let intent = classify(message);
    let new_patient = context.map(str::to_lowercase).is_some_and(|c| {
        [
            "new patient",
            "first visit",
            "paciente novo",
            "nova paciente",
            "primeira consulta",
            "بیمار جدید",
            "مراجعه اول",
        ]
        .iter()
        .any(|w| c.contains(w))
    });
    let mut reply = text(intent, language, clinic);
    if new_patient
        && matches!(
            intent,
            Intent::Schedule | Intent::Greeting | Intent::Unknown
        )
    {
        reply.push(' ');
        reply.push_str(match language {
            Language::En => "As a new patient, please bring an ID and your insurance card, and arrive 15 minutes early to register.",
            Language::PtBr => "Como paciente novo, traga um documento com foto e a carteirinha do convênio, e chegue 15 minutos antes para o cadastro.",
            Language::Fa => "به عنوان بیمار جدید، لطفاً کارت ملی و دفترچه بیمه خود را همراه داشته باشید و ۱۵ دقیقه زودتر برای پذیرش مراجعه کنید.",
        });
    }
    RuleAnswer {
        reply,
        intent,
        language,
    }
}

fn text(intent: Intent, language: Language, clinic: &ClinicInfo) -> String {
    use Intent::*;
    use Language::*;
    let phone = clinic.phone.clone();
    let hours = clinic.hours.clone();
    let contact = |l: Language| -> String {
        let mut parts = Vec::new();
        if let Some(p) = &clinic.phone {
            parts.push(match l {
                En => format!("phone {p}"),
                PtBr => format!("telefone {p}"),
                Fa => format!("تلفن {p}"),
            });
        }
        if let Some(e) = &clinic.email {
            parts.push(match l {
                En | PtBr => format!("email {e}"),
                Fa => format!("ایمیل {e}"),
            });
        }
        parts.join(", ")
    };
    match (intent, language) {
        (Emergency, En) => "If this is an emergency, call your local emergency number (911 in the US, 112 in Europe) or go to the nearest emergency room now. Do not wait for an online answer.".into(),
        (Emergency, PtBr) => "Se for uma emergência, ligue agora para o SAMU (192) ou vá ao pronto-socorro mais próximo. Não espere por uma resposta online.".into(),
        (Emergency, Fa) => "اگر وضعیت اورژانسی است، همین حالا با اورژانس ۱۱۵ تماس بگیرید یا به نزدیک‌ترین بخش اورژانس بروید. منتظر پاسخ آنلاین نمانید.".into(),
        (Schedule, En) => "To book an appointment, open Appointments in the app, choose the specialty or doctor, then pick a free date and time and confirm. You will get a confirmation by email and SMS.".into(),
        (Schedule, PtBr) => "Para agendar uma consulta, abra Consultas no aplicativo, escolha a especialidade ou o médico, selecione uma data e um horário livres e confirme. Você receberá a confirmação por e-mail e SMS.".into(),
        (Schedule, Fa) => "برای گرفتن نوبت، در برنامه بخش «نوبت‌ها» را باز کنید، تخصص یا پزشک را انتخاب کنید، سپس تاریخ و ساعت خالی را برگزینید و تأیید کنید. تأیید نوبت از طریق پیامک و ایمیل ارسال می‌شود.".into(),
        (Cancel, En) => "To cancel, open Appointments in the app, select the appointment and choose Cancel. Please cancel at least 24 hours ahead so someone else can take the slot.".into(),
        (Cancel, PtBr) => "Para cancelar, abra Consultas no aplicativo, selecione a consulta e toque em Cancelar. Cancele com pelo menos 24 horas de antecedência para liberar o horário para outra pessoa.".into(),
        (Cancel, Fa) => "برای لغو نوبت، در برنامه بخش «نوبت‌ها» را باز کنید، نوبت را انتخاب و گزینه «لغو» را بزنید. لطفاً دست‌کم ۲۴ ساعت زودتر لغو کنید تا نوبت به بیمار دیگری برسد.".into(),
        (Reschedule, En) => "To reschedule, open the appointment in the app and choose Reschedule, then pick a new free date and time. Your old slot is released when you confirm.".into(),
        (Reschedule, PtBr) => "Para remarcar, abra a consulta no aplicativo, toque em Remarcar e escolha uma nova data e horário livres. O horário antigo é liberado quando você confirmar.".into(),
        (Reschedule, Fa) => "برای تغییر زمان نوبت، نوبت را در برنامه باز کنید، «تغییر زمان» را بزنید و تاریخ و ساعت خالی جدیدی انتخاب کنید. با تأیید شما نوبت قبلی آزاد می‌شود.".into(),
        (Hours, En) => format!("We are open {}. Outside these hours, use the app to book and, for emergencies, call your local emergency number.", hours.unwrap_or_else(|| "Monday to Friday 8:00-18:00 and Saturday 8:00-12:00".into())),
        (Hours, PtBr) => format!("Funcionamos {}. Fora desse horário, agende pelo aplicativo e, em emergências, ligue 192.", hours.unwrap_or_else(|| "de segunda a sexta, das 8h às 18h, e aos sábados, das 8h às 12h".into())),
        (Hours, Fa) => format!("ساعات کاری: {}. خارج از این ساعات از برنامه برای نوبت‌گیری استفاده کنید و در موارد اورژانسی با ۱۱۵ تماس بگیرید.", hours.unwrap_or_else(|| "شنبه تا چهارشنبه ۸ تا ۱۸ و پنجشنبه ۸ تا ۱۲".into())),
        (Contact, l) => {
            let c = contact(l);
            match l {
                En if c.is_empty() => "You can reach the clinic through the app's Messages section; the reception answers during opening hours.".into(),
                En => format!("You can reach the clinic by {c}, or through the app's Messages section."),
                PtBr if c.is_empty() => "Você pode falar com a clínica pela seção Mensagens do aplicativo; a recepção responde no horário de funcionamento.".into(),
                PtBr => format!("Você pode falar com a clínica pelo {c}, ou pela seção Mensagens do aplicativo."),
                Fa if c.is_empty() => "می‌توانید از بخش «پیام‌ها» در برنامه با کلینیک در ارتباط باشید؛ پذیرش در ساعات کاری پاسخ می‌دهد.".into(),
                Fa => format!("برای تماس با کلینیک: {c}، یا از بخش «پیام‌ها» در برنامه استفاده کنید."),
            }
        }
        (Prices, En) => "Prices depend on the specialty and your insurance. The app shows the fee before you confirm a booking; the reception can check your insurance coverage.".into(),
        (Prices, PtBr) => "Os valores dependem da especialidade e do seu convênio. O aplicativo mostra o valor antes de você confirmar o agendamento; a recepção pode verificar a cobertura do seu plano.".into(),
        (Prices, Fa) => "هزینه به تخصص و بیمه شما بستگی دارد. برنامه پیش از تأیید نوبت هزینه را نشان می‌دهد و پذیرش می‌تواند پوشش بیمه شما را بررسی کند.".into(),
        (Results, En) => "Test results appear in the app under Results as soon as the lab releases them. Your doctor will explain them at your follow-up visit.".into(),
        (Results, PtBr) => "Os resultados de exames aparecem no aplicativo, em Resultados, assim que o laboratório os libera. Seu médico vai explicá-los na consulta de retorno.".into(),
        (Results, Fa) => "جواب آزمایش‌ها پس از آماده شدن در بخش «نتایج» برنامه نمایش داده می‌شود و پزشک در ویزیت بعدی آن‌ها را توضیح می‌دهد.".into(),
        (Thanks, En) => "You're welcome! Anything else I can help with?".into(),
        (Thanks, PtBr) => "Por nada! Posso ajudar em mais alguma coisa?".into(),
        (Thanks, Fa) => "خواهش می‌کنم! کار دیگری هست که بتوانم کمک کنم؟".into(),
        (Greeting | Unknown, En) => format!(
            "Hello! I can help you book, cancel or reschedule appointments, and tell you our opening hours and how to reach us{}. For medical questions please talk to your doctor; in an emergency call your local emergency number.",
            phone.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
        (Greeting | Unknown, PtBr) => format!(
            "Olá! Posso ajudar a agendar, cancelar ou remarcar consultas e informar nosso horário de funcionamento e contatos{}. Para dúvidas médicas, fale com seu médico; em emergências, ligue 192.",
            phone.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
        (Greeting | Unknown, Fa) => format!(
            "سلام! می‌توانم در گرفتن، لغو یا تغییر نوبت و اطلاع از ساعات کاری و راه‌های تماس{} کمکتان کنم. برای پرسش‌های پزشکی با پزشک خود صحبت کنید و در موارد اورژانسی با ۱۱۵ تماس بگیرید.",
            phone.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_languages() {
        assert_eq!(
            detect_language("Como agendar uma consulta?"),
            Language::PtBr
        );
        assert_eq!(detect_language("چطور نوبت بگیرم؟"), Language::Fa);
        assert_eq!(
            detect_language("How do I book an appointment?"),
            Language::En
        );
        assert_eq!(Language::parse("pt_BR"), Some(Language::PtBr));
    }

    #[test]
    fn emergency_wins_over_everything() {
        let a = answer(
            "I want to cancel, I have chest pain",
            None,
            None,
            &ClinicInfo::default(),
        );
        assert_eq!(a.intent, Intent::Emergency);
        assert!(a.reply.contains("emergency"));
        let a = answer("Estou com dor no peito", None, None, &ClinicInfo::default());
        assert!(a.reply.contains("192"));
        assert_eq!(classify("I need to cancel my appointment"), Intent::Cancel);
        assert_eq!(classify("Quero remarcar a consulta"), Intent::Reschedule);
    }
}
