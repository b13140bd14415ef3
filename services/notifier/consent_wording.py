"""The words of the referral and forwarding pages, and of the forwarded email,
in Italian, Swedish and English. A missing translation is a type error."""

from __future__ import annotations

import dataclasses

from services.notifier.wording import Language


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentWording:
    # referral: the confirmation page
    ref_title: str
    ref_intro: str  # {company}
    ref_receives: str
    ref_name: str
    ref_email: str
    ref_note: str
    ref_note_hint: str
    ref_profile: str
    ref_profile_hint: str
    ref_nothing_before: str
    ref_button: str
    ref_bad_profile: str
    ref_closed: str
    # referral: after confirming, and its states
    ref_done_title: str
    ref_done_text: str  # {company}
    ref_withdraw_button: str
    ref_withdrawn_title: str
    ref_withdrawn_text: str
    ref_delivered_title: str
    ref_delivered_text: str  # {company}
    ref_other_title: str
    ref_other_text: str
    ref_no_contact: str
    # forward
    fwd_intro: str
    fwd_note: str
    fwd_privacy: str
    fwd_bad_address: str
    fwd_limit: str
    fwd_again: str
    fwd_sent_title: str
    fwd_sent_text: str
    # the forwarded email
    mail_subject: str
    mail_intro: str  # {name}
    mail_note: str  # {name}
    mail_apply: str
    mail_join: str
    mail_never: str
    mail_why: str
    # the colleague's "never write to me again"
    never_title: str
    never_text: str
    never_button: str
    never_done_title: str
    never_done_text: str
    # forms
    stale_form: str


CONSENT: dict[Language, ConsentWording] = {
    "en": ConsentWording(
        ref_title="Refer me for this opening",
        ref_intro=(
            "If you confirm, we introduce you to {company} for this opening. "
            "This is exactly what they will receive:"
        ),
        ref_receives="What the company receives",
        ref_name="Your name",
        ref_email="Your email",
        ref_note="A short note to the company (you can change it)",
        ref_note_hint="Up to 600 characters. Leave it empty if you prefer.",
        ref_profile="Link to your CV or profile (optional)",
        ref_profile_hint="An https:// link, e.g. your LinkedIn profile.",
        ref_nothing_before=(
            "Until you confirm, the company knows nothing about you: not your name, not that "
            "you were told about this opening. You can withdraw until it is delivered."
        ),
        ref_button="Yes, refer me",
        ref_bad_profile="The link must start with https:// and be at most 300 characters.",
        ref_closed="This opening has closed: there is nobody to refer you to any more.",
        ref_done_title="Your referral is on its way",
        ref_done_text=(
            "We will introduce you to {company} shortly. Until it is delivered, you can "
            "still change your mind."
        ),
        ref_withdraw_button="Withdraw my referral",
        ref_withdrawn_title="Referral withdrawn",
        ref_withdrawn_text="Nothing about you will be sent to the company.",
        ref_delivered_title="Your referral was delivered",
        ref_delivered_text=(
            "{company} has received your referral; it can no longer be withdrawn here. "
            "They will contact you directly."
        ),
        ref_other_title="This referral is closed",
        ref_other_text="It was not delivered, and nothing about you was sent.",
        ref_no_contact="We do not have your contact details any more, so we cannot refer you.",
        fwd_intro="Send this opening to a colleague, with a few words of your own.",
        fwd_note="Your note (optional)",
        fwd_privacy=(
            "We use the address only for this one email and do not keep it. Your colleague "
            "will see your name, and can ask us never to write to them again."
        ),
        fwd_bad_address="Please enter one plain email address.",
        fwd_limit="You have forwarded as many openings as we allow in one day. Try tomorrow.",
        fwd_again="You have already sent this colleague an opening today.",
        fwd_sent_title="Sent to your colleague",
        fwd_sent_text="Thank you for passing the word. We do not keep their address.",
        mail_subject="An opening a colleague thought of you for",
        mail_intro=(
            "{name} thought this opening might interest you and forwarded it through passaparola."
        ),
        mail_note="{name} writes:",
        mail_apply="How to apply",
        mail_join=(
            "passaparola is the job-referral network of a community of executive assistants. "
            "Join it here:"
        ),
        mail_never="Never write to me again:",
        mail_why="You receive this email only because a colleague entered your address.",
        never_title="No more emails from passaparola?",
        never_text="We will not send you any forwarded opening again.",
        never_button="Never write to me again",
        never_done_title="Done",
        never_done_text="We will not write to this address again.",
        stale_form="This form is out of date. Please open the link from the email again.",
    ),
    "it": ConsentWording(
        ref_title="Segnalami per questa opportunità",
        ref_intro=(
            "Se confermi, ti presentiamo a {company} per questa opportunità. "
            "Ecco esattamente che cosa riceverà:"
        ),
        ref_receives="Che cosa riceve l'azienda",
        ref_name="Il tuo nome",
        ref_email="La tua email",
        ref_note="Una breve nota per l'azienda (puoi modificarla)",
        ref_note_hint="Fino a 600 caratteri. Puoi anche lasciarla vuota.",
        ref_profile="Link al tuo CV o profilo (facoltativo)",
        ref_profile_hint="Un link https://, per esempio il tuo profilo LinkedIn.",
        ref_nothing_before=(
            "Finché non confermi, l'azienda non sa nulla di te: né il tuo nome, né che ti "
            "abbiamo segnalato questa opportunità. Puoi ritirare la segnalazione finché non "
            "è stata consegnata."
        ),
        ref_button="Sì, segnalami",
        ref_bad_profile="Il link deve iniziare con https:// e avere al massimo 300 caratteri.",
        ref_closed="Questa opportunità è chiusa: non c'è più nessuno a cui segnalarti.",
        ref_done_title="La tua segnalazione è in arrivo",
        ref_done_text=(
            "Ti presenteremo a {company} a breve. Finché non è consegnata, puoi ancora "
            "cambiare idea."
        ),
        ref_withdraw_button="Ritira la segnalazione",
        ref_withdrawn_title="Segnalazione ritirata",
        ref_withdrawn_text="All'azienda non sarà inviato nulla di te.",
        ref_delivered_title="La tua segnalazione è stata consegnata",
        ref_delivered_text=(
            "{company} ha ricevuto la tua segnalazione; non è più possibile ritirarla qui. "
            "Ti contatteranno direttamente."
        ),
        ref_other_title="Questa segnalazione è chiusa",
        ref_other_text="Non è stata consegnata e non è stato inviato nulla di te.",
        ref_no_contact="Non abbiamo più i tuoi recapiti, quindi non possiamo segnalarti.",
        fwd_intro="Invia questa opportunità a una collega o un collega, con due parole tue.",
        fwd_note="La tua nota (facoltativa)",
        fwd_privacy=(
            "Usiamo l'indirizzo solo per questa email e non lo conserviamo. Chi la riceve "
            "vedrà il tuo nome e potrà chiederci di non scrivergli mai più."
        ),
        fwd_bad_address="Inserisci un solo indirizzo email.",
        fwd_limit="Oggi hai già inoltrato tutte le opportunità consentite. Riprova domani.",
        fwd_again="Oggi hai già inviato un'opportunità a questa persona.",
        fwd_sent_title="Inviata",
        fwd_sent_text="Grazie per il passaparola. Non conserviamo l'indirizzo.",
        mail_subject="Un'opportunità che una collega ha pensato per te",
        mail_intro=(
            "{name} ha pensato che questa opportunità potesse "
            "interessarti e te l'ha inoltrata con passaparola."
        ),
        mail_note="{name} scrive:",
        mail_apply="Come candidarsi",
        mail_join=(
            "passaparola è la rete di segnalazioni di una community di assistenti di "
            "direzione. Puoi unirti qui:"
        ),
        mail_never="Non scrivetemi mai più:",
        mail_why=(
            "Ricevi questa email solo perché una persona che conosci ha inserito il tuo indirizzo."
        ),
        never_title="Nessuna email da passaparola?",
        never_text="Non ti invieremo più opportunità inoltrate.",
        never_button="Non scrivetemi mai più",
        never_done_title="Fatto",
        never_done_text="Non scriveremo più a questo indirizzo.",
        stale_form="Questo modulo è scaduto. Apri di nuovo il link dall'email.",
    ),
    "sv": ConsentWording(
        ref_title="Rekommendera mig för tjänsten",
        ref_intro=(
            "Om du bekräftar presenterar vi dig för {company} för den här tjänsten. "
            "Det här är exakt vad de får:"
        ),
        ref_receives="Det här får företaget",
        ref_name="Ditt namn",
        ref_email="Din mejladress",
        ref_note="Ett kort meddelande till företaget (du kan ändra det)",
        ref_note_hint="Högst 600 tecken. Lämna tomt om du vill.",
        ref_profile="Länk till ditt CV eller din profil (valfritt)",
        ref_profile_hint="En https://-länk, till exempel din LinkedIn-profil.",
        ref_nothing_before=(
            "Tills du bekräftar vet företaget ingenting om dig: inte ditt namn, inte att du "
            "fått veta om tjänsten. Du kan ångra dig tills den är levererad."
        ),
        ref_button="Ja, rekommendera mig",
        ref_bad_profile="Länken måste börja med https:// och vara högst 300 tecken.",
        ref_closed="Tjänsten är stängd: det finns ingen att rekommendera dig till längre.",
        ref_done_title="Din rekommendation är på väg",
        ref_done_text=(
            "Vi presenterar dig för {company} inom kort. Tills den är levererad kan du "
            "fortfarande ångra dig."
        ),
        ref_withdraw_button="Dra tillbaka rekommendationen",
        ref_withdrawn_title="Rekommendationen är tillbakadragen",
        ref_withdrawn_text="Ingenting om dig skickas till företaget.",
        ref_delivered_title="Din rekommendation är levererad",
        ref_delivered_text=(
            "{company} har fått din rekommendation; den kan inte dras tillbaka här längre. "
            "De kontaktar dig direkt."
        ),
        ref_other_title="Rekommendationen är avslutad",
        ref_other_text="Den levererades inte, och ingenting om dig skickades.",
        ref_no_contact="Vi har inte dina kontaktuppgifter längre och kan inte rekommendera dig.",
        fwd_intro="Skicka tjänsten till en kollega, med några egna ord.",
        fwd_note="Ditt meddelande (valfritt)",
        fwd_privacy=(
            "Vi använder adressen bara för det här mejlet och sparar den inte. Din kollega "
            "ser ditt namn och kan be oss att aldrig skriva igen."
        ),
        fwd_bad_address="Skriv en enda mejladress.",
        fwd_limit="Du har tipsat om så många tjänster som vi tillåter per dag. Försök i morgon.",
        fwd_again="Du har redan skickat en tjänst till den här kollegan i dag.",
        fwd_sent_title="Skickat till din kollega",
        fwd_sent_text="Tack för att du tipsar. Vi sparar inte adressen.",
        mail_subject="En tjänst som en kollega tänkte på dig för",
        mail_intro=(
            "{name} tänkte att den här tjänsten kan intressera "
            "dig och skickade den via passaparola."
        ),
        mail_note="{name} skriver:",
        mail_apply="Så söker man",
        mail_join=(
            "passaparola är rekommendationsnätverket för en gemenskap av ledningsassistenter. "
            "Gå med här:"
        ),
        mail_never="Skriv aldrig till mig igen:",
        mail_why="Du får det här mejlet bara för att en kollega skrev in din adress.",
        never_title="Inga fler mejl från passaparola?",
        never_text="Vi skickar inga fler tipsade tjänster till dig.",
        never_button="Skriv aldrig till mig igen",
        never_done_title="Klart",
        never_done_text="Vi skriver inte till den här adressen igen.",
        stale_form="Formuläret är för gammalt. Öppna länken i mejlet igen.",
    ),
}
