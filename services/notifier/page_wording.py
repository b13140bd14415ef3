"""Every sentence of the members' link pages, in Italian, Swedish and English.

One dataclass per language, like ``wording``: a missing translation is a type
error. The pages say plainly what happens and what does not (yet).
"""

from __future__ import annotations

import dataclasses

from services.notifier.wording import Language


@dataclasses.dataclass(frozen=True, slots=True)
class PageWording:
    footer: str
    # errors
    invalid_title: str
    invalid_text: str
    expired_title: str
    expired_text: str
    gone_title: str
    gone_text: str
    # unsubscribe
    unsubscribe_title: str
    unsubscribe_text: str
    unsubscribe_button: str
    unsubscribe_alternative: str
    unsubscribed_title: str
    unsubscribed_text: str
    # pause
    pause_title: str
    pause_text: str
    pause_label: str
    pause_button: str
    paused_title: str  # {date}
    paused_text: str  # {date}
    # preferences
    prefs_title: str
    prefs_frequency: str
    freq_instant: str
    freq_daily: str
    freq_weekly: str
    prefs_quiet: str
    prefs_quiet_from: str
    prefs_quiet_to: str
    prefs_quiet_none: str
    prefs_language: str
    prefs_button: str
    saved_title: str
    saved_text: str
    # not for me
    nfm_title: str
    nfm_text: str
    nfm_reason: str
    reason_role: str
    reason_place: str
    reason_level: str
    reason_company: str
    reason_timing: str
    reason_other: str
    reason_none: str
    nfm_button: str
    nfm_done_title: str
    nfm_done_text: str
    # forward
    fwd_title: str
    fwd_text: str
    fwd_not_yet: str
    fwd_label: str
    fwd_button: str
    fwd_details: str
    fwd_apply: str
    fwd_done_title: str
    fwd_done_text: str
    # interested
    int_title: str
    int_text: str  # {company}
    int_not_yet: str
    int_button: str
    # shared
    back_to_prefs: str
    invalid_date: str


PAGES: dict[Language, PageWording] = {
    "en": PageWording(
        footer="This page is only for you: please don't share its address. No tracking, ever.",
        invalid_title="This link doesn't work",
        invalid_text=(
            "It may have been cut short or changed on the way. Open it again from the email, "
            "or use the links in our most recent email."
        ),
        expired_title="This link has expired",
        expired_text=(
            "For your safety, links in our emails stop working after a while. "
            "The links in our most recent email will work."
        ),
        gone_title="Nothing to do here any more",
        gone_text=(
            "This link refers to something that no longer exists, for example after your "
            "data was erased at your request."
        ),
        unsubscribe_title="Stop these emails?",
        unsubscribe_text=(
            "You will no longer receive job emails from passaparola. "
            "Your membership of the community does not change."
        ),
        unsubscribe_button="Unsubscribe",
        unsubscribe_alternative="Would you rather hear from us less often?",
        unsubscribed_title="You are unsubscribed",
        unsubscribed_text=(
            "We will not email you about openings any more. If you change your mind, you can "
            "sign up again from your community profile."
        ),
        pause_title="Pause for a while",
        pause_text="No emails from us until the date you choose. Nothing else changes.",
        pause_label="Pause until",
        pause_button="Pause",
        paused_title="Paused until {date}",
        paused_text=(
            "We will write again from {date}. Openings found meanwhile that are still open "
            "then may reach you after the pause."
        ),
        prefs_title="Your email preferences",
        prefs_frequency="How often",
        freq_instant="As soon as we find an opening for you",
        freq_daily="One summary a day, in the morning",
        freq_weekly="One summary a week, on Monday morning",
        prefs_quiet="Quiet hours: no emails between",
        prefs_quiet_from="From",
        prefs_quiet_to="to",
        prefs_quiet_none="Leave both empty for no quiet hours.",
        prefs_language="Language",
        prefs_button="Save",
        saved_title="Preferences saved",
        saved_text="Thank you. Our next emails will follow your new preferences.",
        nfm_title="Not for me",
        nfm_text=(
            "Thank you for telling us. Why it does not fit helps us choose better for you; "
            "the company is told nothing."
        ),
        nfm_reason="Why? (optional)",
        reason_role="Not the role I am looking for",
        reason_place="Not the right place",
        reason_level="Not the right level",
        reason_company="Not this company",
        reason_timing="Not the right moment",
        reason_other="Another reason",
        reason_none="I'd rather not say",
        nfm_button="Send",
        nfm_done_title="Thank you",
        nfm_done_text="We will not mention this opening to you again.",
        fwd_title="Forward to a colleague",
        fwd_text=(
            "Know someone this opening would suit? This is how it will work: your colleague "
            "receives one short email with this opening and nothing else; they are not signed "
            "up for anything, we do not tell them who you are, and we keep their address only "
            "to send that one email."
        ),
        fwd_not_yet=(
            "Sending through passaparola is not switched on yet: nothing will be sent and "
            "the address will not be kept. Meanwhile you can share the details above "
            "yourself. Please do not forward our email itself: its links are personal."
        ),
        fwd_label="Your colleague's email address",
        fwd_button="Send to my colleague",
        fwd_details="The opening",
        fwd_apply="How to apply",
        fwd_done_title="Not sent yet",
        fwd_done_text=(
            "Forwarding through passaparola is not available yet, so nothing was sent and "
            "the address you typed was not kept. You can share the details yourself."
        ),
        int_title="Interested in this opening?",
        int_text=(
            "Here is what happens next: when you confirm, we introduce you to {company} for "
            "this opening, and only then does the company learn who you are. Until you "
            "confirm, nothing is shared."
        ),
        int_not_yet=(
            "Referrals are being switched on: this button is not active yet, and nothing has "
            "been sent to the company. We will write to you as soon as it is."
        ),
        int_button="Refer me",
        back_to_prefs="Change your preferences",
        invalid_date="Please choose a date between tomorrow and one year from now.",
    ),
    "it": PageWording(
        footer="Questa pagina è solo per te: non condividerne l'indirizzo. Nessun tracciamento.",
        invalid_title="Questo link non funziona",
        invalid_text=(
            "Forse è stato tagliato o modificato lungo la strada. Aprilo di nuovo dall'email, "
            "oppure usa i link della nostra email più recente."
        ),
        expired_title="Questo link è scaduto",
        expired_text=(
            "Per la tua sicurezza, i link delle nostre email smettono di funzionare dopo un "
            "po' di tempo. I link della nostra email più recente funzionano."
        ),
        gone_title="Qui non c'è più nulla da fare",
        gone_text=(
            "Questo link si riferisce a qualcosa che non esiste più, per esempio dopo che i "
            "tuoi dati sono stati cancellati su tua richiesta."
        ),
        unsubscribe_title="Non vuoi più ricevere queste email?",
        unsubscribe_text=(
            "Non riceverai più email sulle opportunità di lavoro da passaparola. "
            "La tua appartenenza alla community non cambia."
        ),
        unsubscribe_button="Annulla l'iscrizione",
        unsubscribe_alternative="Preferisci ricevere meno email?",
        unsubscribed_title="Iscrizione annullata",
        unsubscribed_text=(
            "Non ti scriveremo più sulle opportunità. Se cambi idea, puoi iscriverti di nuovo "
            "dal tuo profilo nella community."
        ),
        pause_title="Metti in pausa per un po'",
        pause_text="Nessuna email da parte nostra fino alla data che scegli. Nient'altro cambia.",
        pause_label="In pausa fino al",
        pause_button="Metti in pausa",
        paused_title="In pausa fino al {date}",
        paused_text=(
            "Ti scriveremo di nuovo dal {date}. Le opportunità trovate nel frattempo e ancora "
            "aperte potranno arrivarti dopo la pausa."
        ),
        prefs_title="Le tue preferenze email",
        prefs_frequency="Quanto spesso",
        freq_instant="Appena troviamo un'opportunità per te",
        freq_daily="Un riepilogo al giorno, al mattino",
        freq_weekly="Un riepilogo alla settimana, il lunedì mattina",
        prefs_quiet="Ore di silenzio: nessuna email tra le",
        prefs_quiet_from="Dalle",
        prefs_quiet_to="alle",
        prefs_quiet_none="Lascia vuoti entrambi i campi per non avere ore di silenzio.",
        prefs_language="Lingua",
        prefs_button="Salva",
        saved_title="Preferenze salvate",
        saved_text="Grazie. Le prossime email seguiranno le tue nuove preferenze.",
        nfm_title="Non fa per me",
        nfm_text=(
            "Grazie di avercelo detto. Sapere perché non fa per te ci aiuta a scegliere meglio; "
            "all'azienda non diciamo nulla."
        ),
        nfm_reason="Perché? (facoltativo)",
        reason_role="Non è il ruolo che cerco",
        reason_place="Non è il posto giusto",
        reason_level="Non è il livello giusto",
        reason_company="Non questa azienda",
        reason_timing="Non è il momento giusto",
        reason_other="Un altro motivo",
        reason_none="Preferisco non dirlo",
        nfm_button="Invia",
        nfm_done_title="Grazie",
        nfm_done_text="Non ti parleremo più di questa opportunità.",
        fwd_title="Inoltra a chi potrebbe interessare",
        fwd_text=(
            "Conosci qualcuno per cui questa opportunità sarebbe perfetta? Ecco come "
            "funzionerà: la persona riceve una sola breve email con questa opportunità e "
            "nient'altro; non viene iscritta a nulla, non le diciamo chi sei e teniamo il suo "
            "indirizzo solo per inviare quell'email."
        ),
        fwd_not_yet=(
            "L'invio tramite passaparola non è ancora attivo: non verrà inviato nulla e "
            "l'indirizzo non verrà conservato. Nel frattempo puoi condividere tu i dettagli "
            "qui sopra. Non inoltrare la nostra email: i suoi link sono personali."
        ),
        fwd_label="L'indirizzo email della persona",
        fwd_button="Invia",
        fwd_details="L'opportunità",
        fwd_apply="Come candidarsi",
        fwd_done_title="Non ancora inviata",
        fwd_done_text=(
            "L'inoltro tramite passaparola non è ancora disponibile: non è stato inviato "
            "nulla e l'indirizzo che hai scritto non è stato conservato. Puoi condividere tu "
            "i dettagli."
        ),
        int_title="Ti interessa questa opportunità?",
        int_text=(
            "Ecco cosa succede ora: quando confermi, ti presentiamo a {company} per questa "
            "opportunità, e solo allora l'azienda saprà chi sei. Finché non confermi, non "
            "condividiamo nulla."
        ),
        int_not_yet=(
            "Le segnalazioni stanno per essere attivate: questo pulsante non è ancora attivo e "
            "all'azienda non è stato inviato nulla. Ti scriveremo appena lo sarà."
        ),
        int_button="Segnalami",
        back_to_prefs="Cambia le tue preferenze",
        invalid_date="Scegli una data tra domani e un anno da oggi.",
    ),
    "sv": PageWording(
        footer="Den här sidan är bara för dig: dela inte adressen. Ingen spårning, aldrig.",
        invalid_title="Den här länken fungerar inte",
        invalid_text=(
            "Den kan ha kortats av eller ändrats på vägen. Öppna den igen från mejlet, eller "
            "använd länkarna i vårt senaste mejl."
        ),
        expired_title="Länken har gått ut",
        expired_text=(
            "För din säkerhet slutar länkarna i våra mejl att fungera efter en tid. "
            "Länkarna i vårt senaste mejl fungerar."
        ),
        gone_title="Här finns inget kvar att göra",
        gone_text=(
            "Länken gäller något som inte längre finns, till exempel efter att dina uppgifter "
            "raderats på din begäran."
        ),
        unsubscribe_title="Sluta få de här mejlen?",
        unsubscribe_text=(
            "Du kommer inte längre att få mejl om tjänster från passaparola. "
            "Ditt medlemskap i gemenskapen påverkas inte."
        ),
        unsubscribe_button="Avsluta prenumerationen",
        unsubscribe_alternative="Vill du hellre höra från oss mer sällan?",
        unsubscribed_title="Prenumerationen är avslutad",
        unsubscribed_text=(
            "Vi mejlar dig inte längre om tjänster. Om du ändrar dig kan du anmäla dig igen "
            "från din profil i gemenskapen."
        ),
        pause_title="Pausa ett tag",
        pause_text="Inga mejl från oss förrän det datum du väljer. Inget annat ändras.",
        pause_label="Pausa till och med",
        pause_button="Pausa",
        paused_title="Pausat till {date}",
        paused_text=(
            "Vi hör av oss igen från {date}. Tjänster som hittas under tiden och som fortfarande "
            "är öppna då kan nå dig efter pausen."
        ),
        prefs_title="Dina mejlinställningar",
        prefs_frequency="Hur ofta",
        freq_instant="Så snart vi hittar en tjänst för dig",
        freq_daily="En sammanfattning om dagen, på morgonen",
        freq_weekly="En sammanfattning i veckan, måndag morgon",
        prefs_quiet="Tysta timmar: inga mejl mellan",
        prefs_quiet_from="Från",
        prefs_quiet_to="till",
        prefs_quiet_none="Lämna båda tomma för inga tysta timmar.",
        prefs_language="Språk",
        prefs_button="Spara",
        saved_title="Inställningarna är sparade",
        saved_text="Tack. Våra nästa mejl följer dina nya inställningar.",
        nfm_title="Inte för mig",
        nfm_text=(
            "Tack för att du berättar. Att veta varför hjälper oss att välja bättre åt dig; "
            "företaget får inte veta något."
        ),
        nfm_reason="Varför? (frivilligt)",
        reason_role="Inte rollen jag söker",
        reason_place="Inte rätt ort",
        reason_level="Inte rätt nivå",
        reason_company="Inte det här företaget",
        reason_timing="Inte rätt tillfälle",
        reason_other="Något annat",
        reason_none="Jag vill inte säga",
        nfm_button="Skicka",
        nfm_done_title="Tack",
        nfm_done_text="Vi nämner inte den här tjänsten för dig igen.",
        fwd_title="Tipsa en kollega",
        fwd_text=(
            "Känner du någon som tjänsten skulle passa? Så här kommer det att fungera: din "
            "kollega får ett enda kort mejl med tjänsten och inget annat; hen anmäls inte till "
            "något, vi berättar inte vem du är, och vi sparar adressen bara för att skicka det "
            "mejlet."
        ),
        fwd_not_yet=(
            "Att skicka via passaparola är inte påslaget än: inget skickas och adressen sparas "
            "inte. Under tiden kan du dela uppgifterna ovan själv. Vidarebefordra inte vårt "
            "mejl: länkarna i det är personliga."
        ),
        fwd_label="Din kollegas mejladress",
        fwd_button="Skicka till min kollega",
        fwd_details="Tjänsten",
        fwd_apply="Så söker man",
        fwd_done_title="Inte skickat än",
        fwd_done_text=(
            "Att tipsa via passaparola finns inte än, så inget skickades och adressen du "
            "skrev sparades inte. Du kan dela uppgifterna själv."
        ),
        int_title="Intresserad av tjänsten?",
        int_text=(
            "Så här går det till: när du bekräftar presenterar vi dig för {company} för den här "
            "tjänsten, och först då får företaget veta vem du är. Tills du bekräftar delas "
            "ingenting."
        ),
        int_not_yet=(
            "Rekommendationer håller på att slås på: knappen är inte aktiv än, och inget har "
            "skickats till företaget. Vi hör av oss så snart den är det."
        ),
        int_button="Rekommendera mig",
        back_to_prefs="Ändra dina inställningar",
        invalid_date="Välj ett datum mellan i morgon och ett år framåt.",
    ),
}
