"""Synthetic encounter notes for the ``icd10_coding`` task.

Why this exists
---------------
Real coded notes (MIMIC and the like) cannot be redistributed, but the harness needs a coding task
that runs anywhere, regenerates byte-identically from a seed and is *not* keyword matching. Real
coding is hard because the note rarely names the code's wording, because siblings under one
3-character category differ in one detail (side, stage, complication, severity, encounter), and
because notes are full of comorbidities that are not the reason for the visit.

Design
------
* ``ENTRIES``: one hand-written clinical content table per code (chief complaints, HPI sentences,
  negations, history, findings, assessment wordings, plan items, medications, vital-sign shifts).
  Sibling codes are written together (often by one function taking the distinguishing detail) so
  the detail that separates them -- left vs right knee, "with hyperglycemia" vs "diabetic
  kidney disease", stage 3a vs 3b, initial vs follow-up encounter -- is stated in the note text.
* Assessments use synonyms, abbreviations and the code's inclusion terms, never the official
  description: every generated note is checked against its codes' official descriptions and the
  code itself (dotted and undotted, case-insensitive) and redrawn if it matches.
* ``COMORBIDITIES``: a pool of chronic conditions (HTN, HLD, T2DM, tobacco use, ...) that appear
  in the history and the plan and are coded as *secondary* codes, plus uncoded distractors
  (surgical history, family history). A comorbidity never shares a category with, or contradicts,
  the primary code (no plain I10 beside hypertensive CKD, no E11.9 beside a diabetic complication).
* Note layouts vary (headed clinic note, SOAP, ED note) and stay short (well under 350 tokens).

Only ``random.Random(seed)`` is used, so the same seed always yields byte-identical output.
"""

# ruff: noqa: E501  (the content tables keep one clinical phrasing per line on purpose)
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------
# Slots: {name} in any template is filled per occurrence.
# ---------------------------------------------------------------------------


GA_WEEKS = range(26, 35)  # gestational weeks in the pregnancy notes (secondary code Z3A.<weeks>)


def _num(lo: float, hi: float, fmt: str = "{:.0f}") -> Callable[[random.Random], str]:
    return lambda r: fmt.format(r.uniform(lo, hi))


SLOTS: dict[str, Callable[[random.Random], str]] = {
    "dur": lambda r: r.choice(["2 days", "3 days", "4 days", "5 days", "1 week", "about a week", "10 days"]),
    "hdur": lambda r: r.choice(["6 hours", "12 hours", "since last night", "since this morning", "1 day", "2 days"]),
    "cdur": lambda r: r.choice(["3 months", "4 months", "6 months", "about a year", "over a year", "2 years"]),
    "years": lambda r: str(r.randint(2, 15)),
    "a1c_hi": _num(8.4, 12.6, "{:.1f}"),
    "a1c_ok": _num(6.1, 6.9, "{:.1f}"),
    "glu_hi": _num(260, 430),
    "glu_lo": _num(38, 62),
    "egfr3a": _num(45, 59),
    "egfr3b": _num(30, 44),
    "egfr3": _num(32, 58),
    "egfr4": _num(16, 29),
    "uacr": _num(45, 600),
    "tf": _num(100.9, 103.2, "{:.1f}"),
    "wbc": _num(12.5, 21.0, "{:.1f}"),
    "hgb_lo": _num(7.2, 10.4, "{:.1f}"),
    "mcv_lo": _num(66, 78),
    "ferr_lo": _num(3, 14),
    "plt_lo": _num(48, 128),
    "na_lo": _num(121, 131),
    "ldl": _num(165, 230),
    "tg": _num(520, 1400),
    "tsh_hi": _num(8.5, 24.0, "{:.1f}"),
    "tsh_lo": _num(0.01, 0.08, "{:.2f}"),
    "bmi40": _num(40.2, 44.8, "{:.1f}"),
    "bmi30": _num(30.4, 38.9, "{:.1f}"),
    "vitd": _num(8, 18),
    "ef_lo": _num(20, 35),
    "ef_ok": _num(55, 65),
    "bnp": _num(650, 2400),
    "trop": _num(0.12, 2.80, "{:.2f}"),
    "lipase": _num(480, 3200),
    "cr_hi": _num(2.1, 3.6, "{:.1f}"),
    "cr_base": _num(0.9, 1.2, "{:.1f}"),
    "spo2_lo": _num(86, 91),
    "peak": _num(55, 75),
    "psa": _num(6.5, 38.0, "{:.1f}"),
    "cm": _num(1.2, 3.8, "{:.1f}"),
    "mm": _num(4, 9),
    "ga": lambda r: str(r.choice(GA_WEEKS)),
    "gcs": lambda r: "15",
    "minutes": lambda r: str(r.randint(1, 10)),
    "pack": lambda r: str(r.randint(15, 60)),
    "ppd": lambda r: r.choice(["1/2 ppd", "1 ppd", "about a pack a day", "10 cigarettes a day"]),
    "quit": lambda r: str(r.randint(3, 25)),
    "phq": lambda r: str(r.randint(5, 9)),
    "phq_mod": lambda r: str(r.randint(10, 14)),
    "phq_sev": lambda r: str(r.randint(20, 26)),
    "gad": lambda r: str(r.randint(11, 19)),
    "drinks": lambda r: str(r.randint(6, 14)),
    "ciwa": lambda r: str(r.randint(11, 22)),
    "ua": lambda r: r.choice(["UA with + leukocyte esterase and nitrites", "UA: large LE, nitrite positive, >50 WBC/hpf", "urine dip positive for leuks and nitrites"]),
}


def _fill(template: str, rng: random.Random, ctx: Mapping[str, str]) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key in ctx:
            return ctx[key]
        return SLOTS[key](rng)

    return re.sub(r"\{(\w+)\}", sub, template)


# ---------------------------------------------------------------------------
# The content table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """Clinical content for one code. Lists are alternatives; the composer picks from each."""

    code: str
    cc: Sequence[str]
    hpi: Sequence[str]
    find: Sequence[str]
    ax: Sequence[str]
    plan: Sequence[str]
    neg: Sequence[str] = ()
    hx: Sequence[str] = ()
    meds: Sequence[str | tuple[str, str]] = ()  # (text, secondary code it implies), e.g. insulin -> Z79.4
    vit: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    sex: str | None = None  # "F" / "M" when the code implies it
    age: tuple[int, int] = (28, 84)
    sec: Sequence[tuple[str, str, str]] = ()  # (code, history wording, plan wording): always added
    conflicts: frozenset[str] = frozenset()  # extra categories no comorbidity may come from
    setting: str = "clinic"  # "clinic" | "ed" | "inpatient"
    ctx: Mapping[str, str] = field(default_factory=dict)  # the variant's detail: side, stage, ...


ENTRIES: list[Entry] = []


def E(code: str, **kw) -> None:  # noqa: N802  (reads like a table row)
    for key in ("cc", "hpi", "find", "ax", "plan", "neg", "hx", "meds"):
        if key in kw and isinstance(kw[key], str):
            kw[key] = [kw[key]]
    if "conflicts" in kw:
        kw["conflicts"] = frozenset(kw["conflicts"])
    # ctx_<name>=value keyword arguments fill {name} in this entry's templates (side, stage, ...).
    kw["ctx"] = {k[4:]: kw.pop(k) for k in [k for k in kw if k.startswith("ctx_")]}
    ENTRIES.append(Entry(code, **kw))


FEVER = {"T": (38.3, 39.6), "HR": (98, 122)}
TACHY = {"HR": (104, 138)}
HYPOX = {"SpO2": (86, 91), "RR": (22, 30)}
HTNV = {"SBP": (148, 176), "DBP": (92, 104)}

# -- Chapter 1: infectious and parasitic --------------------------------------------------------

E("A09", cc=["diarrhea and vomiting", "stomach bug", "loose stools x {dur}"],
  hpi=["{he} reports 6-8 watery stools a day with crampy abdominal pain starting {dur} ago", "several coworkers had similar symptoms after a catered lunch", "some blood-streaked stool noted once, with low-grade fevers", "N/V initially, now mainly diarrhea"],
  neg=["denies recent antibiotics", "no recent travel", "denies melena"],
  find=["abdomen soft, diffusely mildly tender, hyperactive bowel sounds", "mucous membranes dry", "stool studies pending, fecal leukocytes positive", "no peritoneal signs"],
  ax=["infectious gastroenteritis, suspected bacterial", "acute infectious colitis", "infectious diarrhea, organism not identified"],
  plan=["oral rehydration, BRAT diet as tolerated", "stool culture and C. diff sent", "ondansetron PRN nausea", "return if bloody stools or unable to keep fluids down"],
  vit={"T": (37.6, 38.6)})
E("A08.4", cc=["vomiting and diarrhea", "GI illness"],
  hpi=["sudden-onset vomiting followed by watery non-bloody diarrhea {hdur}", "two kids at home with the same symptoms last week", "norovirus going around {his} workplace", "mild diffuse cramping, tolerating small sips"],
  neg=["denies blood in stool", "no recent antibiotics or travel"],
  find=["abdomen soft, nontender, no rebound", "slightly dry mucous membranes", "orthostatics negative"],
  ax=["viral gastroenteritis", "presumed norovirus enteritis", "viral enteritis, self-limited"],
  plan=["oral rehydration, advance diet slowly", "ondansetron ODT 4 mg PRN", "hand hygiene counseling, work note for 48 h"])
for _code, _desc in (("B02.9", "uncomplicated"), ("B02.29", "post")):
    if _desc == "uncomplicated":
        E(_code, cc=["painful rash on {his} side", "blistering rash"],
          hpi=["burning pain on the left flank for 2 days, then a band of vesicles appeared", "rash follows one dermatome on the trunk, started {dur} ago", "never had the shingles vaccine"],
          neg=["no eye involvement", "denies weakness or numbness", "no ear pain or facial droop"],
          find=["grouped vesicles on an erythematous base in a T10 dermatomal distribution", "rash does not cross the midline", "no ophthalmic involvement, no lesions on the nose tip"],
          ax=["herpes zoster (shingles), uncomplicated", "shingles, thoracic dermatome, no complications", "acute zoster without ocular or neurologic involvement"],
          plan=["valacyclovir 1 g TID x 7 days", "gabapentin at night for pain", "Shingrix after resolution", "avoid contact with pregnant or immunocompromised people until crusted"],
          age=(50, 85))
    else:
        E(_code, cc=["nerve pain after shingles", "persistent burning pain in the back"],
          hpi=["had shingles in a lower thoracic dermatome {cdur} ago; rash healed but radiating shooting pain persists", "pain radiates in a band from the spine around the flank, worse with clothing touching", "sleep disrupted by electric pains along the old rash"],
          neg=["no new rash", "denies bowel or bladder changes"],
          find=["healed hyperpigmented scars in a T8 distribution", "allodynia along the dermatome", "strength and reflexes intact in the legs"],
          ax=["post-herpetic radiculopathy", "postherpetic neuralgia with radicular pain, thoracic", "post-zoster radiculopathy"],
          plan=["increase gabapentin to 300 mg TID", "lidocaine 5% patch 12 h on/12 h off", "consider nortriptyline if inadequate relief", "refer to pain clinic"],
          age=(55, 88))
E("B35.1", cc=["thick toenails", "nail fungus"],
  hpi=["both great toenails thickened and yellow for {cdur}", "nails crumble at the edges and are hard to trim", "wants treatment before summer"],
  neg=["no pain or redness around the nails", "denies drainage"],
  find=["dystrophic, yellow, thickened great toenails with subungual debris", "KOH of nail clippings positive for hyphae", "no paronychia"],
  ax=["onychomycosis of the toenails", "dermatophytosis of nail, great toes", "fungal nail infection (ringworm of nails)"],
  plan=["baseline LFTs then terbinafine 250 mg daily x 12 weeks", "discussed topical efinaconazole as an alternative", "foot hygiene, keep feet dry"])
E("B35.3", cc=["itchy feet", "peeling skin between toes"],
  hpi=["itching and peeling between the toes for {cdur}", "goes to the gym daily and showers there barefoot", "tried powder without improvement"],
  neg=["no fever", "denies spreading redness up the leg"],
  find=["macerated scaling in the 4th and 5th web spaces bilaterally", "moccasin-distribution scale on the soles", "KOH prep positive for branching hyphae"],
  ax=["athlete's foot", "dermatophytosis of foot (interdigital)", "foot ringworm, interdigital type"],
  plan=["clotrimazole cream BID x 4 weeks", "wear sandals in communal showers", "dry between toes, change socks daily"])
E("B35.4", cc=["ring-shaped rash", "itchy circular rash on arm"],
  hpi=["expanding itchy ring-shaped patch on the forearm for {dur}", "the family cat has had patchy hair loss", "used hydrocortisone cream and it got bigger"],
  neg=["no scalp or nail involvement", "denies fever"],
  find=["annular scaly plaque with central clearing and raised border on the forearm", "KOH scraping positive for hyphae", "no lymphadenopathy"],
  ax=["ringworm of the body", "dermatophyte infection of the trunk/extremity (body ringworm)", "annular dermatophytosis of the skin"],
  plan=["terbinafine 1% cream BID x 2 weeks", "stop topical steroid", "have the cat seen by a vet"])
E("A41.9", cc=["fever and confusion", "weakness, fever"], setting="ed",
  hpi=["brought in by family for fever, rigors and new confusion over {hdur}", "source unclear on arrival; cough absent, urine unremarkable so far", "lactate elevated on arrival"],
  neg=["no focal weakness", "denies dysuria", "no rash"],
  find=["lactate 4.1", "WBC {wbc} with bandemia", "blood cultures x2 drawn, pending", "CXR without infiltrate, UA bland"],
  ax=["sepsis, source and organism not yet identified", "septicemia, unknown source, meeting SIRS criteria", "sepsis of unclear source"],
  plan=["30 mL/kg crystalloid bolus", "empiric vancomycin and piperacillin-tazobactam", "admit to step-down, trend lactate", "follow blood cultures"],
  vit={"T": (38.6, 39.9), "HR": (112, 134), "SBP": (84, 98), "RR": (22, 28)}, age=(55, 90))
E("A41.51", cc=["fever, chills", "fevers and back pain"], setting="inpatient",
  hpi=["admitted with fevers, flank pain and hypotension from a urinary source", "blood cultures now growing E. coli, pan-sensitive", "remains febrile but hemodynamics improved after fluids"],
  neg=["no new rash", "denies diarrhea"],
  find=["2/2 blood cultures positive for Escherichia coli", "WBC {wbc}", "lactate 3.2 on admission, now 1.4", "CVA tenderness"],
  ax=["E. coli bacteremia with sepsis, urinary source", "gram-negative sepsis due to E. coli", "sepsis secondary to E. coli urosepsis"],
  plan=["narrow to ceftriaxone per sensitivities", "repeat blood cultures to document clearance", "renal ultrasound to exclude obstruction", "total 10-14 days of antibiotics"],
  vit={"T": (38.1, 39.2), "HR": (100, 118), "SBP": (92, 108)}, age=(50, 90))
E("A41.01", cc=["fever after IV drug use", "fever, painful arm"], setting="inpatient",
  hpi=["admitted with fevers and rigors; blood cultures from admission grew Staph aureus, methicillin sensitive", "source felt to be an infected peripheral IV site", "TTE without vegetation"],
  neg=["no new murmur", "denies back pain"],
  find=["4/4 blood culture bottles with MSSA", "erythema and induration at the left antecubital IV site", "WBC {wbc}"],
  ax=["MSSA sepsis from line-associated thrombophlebitis", "methicillin-sensitive Staph aureus bacteremia with sepsis", "Staphylococcus aureus sepsis, oxacillin-sensitive"],
  plan=["cefazolin 2 g IV q8h", "ID consult, TEE to rule out endocarditis", "repeat blood cultures q48h until negative", "minimum 14 days IV therapy from first negative culture"],
  vit={"T": (38.4, 39.5), "HR": (104, 124), "SBP": (90, 104)})
E("B34.9", cc=["fever and body aches", "feeling run down with fever"],
  hpi=["fever to {tf} F, myalgias and fatigue for {dur}", "sick contacts at home with similar illness", "mild sore throat and runny nose, improving"],
  neg=["no SOB or chest pain", "denies rash", "no neck stiffness"],
  find=["rapid strep negative, rapid flu negative", "lungs clear", "no lymphadenopathy or hepatosplenomegaly", "throat mildly injected without exudate"],
  ax=["viral syndrome", "nonspecific viral illness", "acute viral illness, self-limited"],
  plan=["supportive care, fluids and rest", "acetaminophen or ibuprofen for fever", "return if fever > 5 days or new symptoms"],
  vit={"T": (37.9, 38.9)})
E("U07.1", cc=["cough, fever, loss of taste", "positive home test"],
  hpi=["fever, dry cough and loss of smell for {dur}; home antigen test positive", "SARS-CoV-2 PCR positive today", "several household members also tested positive"],
  neg=["no hypoxia at home", "denies chest pain", "no hemoptysis"],
  find=["SpO2 96% RA at rest and with ambulation", "lungs with scattered rhonchi, no crackles", "CXR without consolidation"],
  ax=["acute SARS-CoV-2 infection, mild", "coronavirus disease 2019 infection, outpatient management", "SARS-CoV-2 viral illness confirmed by PCR"],
  plan=["nirmatrelvir/ritonavir x 5 days (interactions reviewed)", "isolate per current guidance", "pulse oximeter at home, ED if SpO2 < 92%"],
  vit={"T": (37.8, 38.7)})
E("A69.20", cc=["rash after hiking", "expanding red rash"],
  hpi=["tick found on the thigh after camping in Connecticut 10 days ago", "expanding red rash at the bite site with fatigue and headache", "arthralgias in the knees"],
  neg=["no facial droop", "denies palpitations", "no neck stiffness"],
  find=["12 cm erythematous annular lesion with central clearing on the thigh (erythema migrans)", "no heart block on EKG", "cranial nerves intact"],
  ax=["Lyme borreliosis, early localized", "tick-borne Borrelia infection with erythema migrans", "Lyme infection, early"],
  plan=["doxycycline 100 mg BID x 14 days", "tick avoidance counseling", "return for joint swelling or facial weakness"])

# -- Chapter 2: neoplasms -----------------------------------------------------------------------

for _side, _code in (("right", "C50.911"), ("left", "C50.912")):
    E(_code, cc=["follow-up breast cancer", "discuss biopsy results"], sex="F", age=(38, 82),
      ctx_side=_side,
      hpi=["{side} breast mass found on screening mammogram; core biopsy showed invasive ductal carcinoma", "ER/PR positive, HER2 negative carcinoma of the {side} breast, here to plan treatment", "palpated a lump in the {side} breast {cdur} ago; biopsy confirmed malignancy"],
      neg=["no bone pain", "denies nipple discharge", "no weight loss"],
      find=["2 cm firm mass in the {side} breast, no skin changes", "no axillary adenopathy", "staging CT negative for distant disease", "contralateral breast unremarkable"],
      ax=["invasive ductal carcinoma, {side} breast, ER+/PR+/HER2-", "{side} breast cancer, early stage", "primary malignancy of the {side} breast, newly diagnosed"],
      plan=["surgical oncology referral for lumpectomy with sentinel node biopsy", "oncotype testing after surgery", "genetics referral", "plan adjuvant endocrine therapy"])
for _side, _code in (("right", "C34.11"), ("left", "C34.12")):
    E(_code, cc=["lung mass", "cough and weight loss"], age=(52, 85),
      ctx_side=_side,
      hpi=["{pack} pack-year smoker with persistent cough and 10 lb weight loss", "CT showed a spiculated {side} upper lobe mass; bronchoscopic biopsy positive for adenocarcinoma", "here to review biopsy of the {side} upper lobe lesion and staging"],
      neg=["no hemoptysis", "denies headaches or bone pain"],
      find=["{cm} cm spiculated mass in the {side} upper lobe on CT", "PET avid {side} upper lobe lesion, no distant uptake", "decreased breath sounds at the {side} apex"],
      ax=["non-small cell lung cancer, {side} upper lobe", "adenocarcinoma of the {side} upper lobe of the lung", "{side} upper lobe primary lung carcinoma"],
      plan=["MRI brain for staging", "thoracic surgery referral for lobectomy", "PFTs", "tumor board discussion"])
E("C61", cc=["elevated PSA", "discuss prostate biopsy"], sex="M", age=(52, 85),
  hpi=["PSA rose to {psa}; MRI showed a PI-RADS 5 lesion", "biopsy positive for adenocarcinoma, Gleason 3+4 in 5 of 12 cores", "mild nocturia, otherwise asymptomatic"],
  neg=["denies bone pain", "no hematuria"],
  find=["firm nodule on the right lobe of the gland on DRE", "bone scan negative", "PSA {psa} ng/mL"],
  ax=["prostate adenocarcinoma, Gleason 7 (3+4), intermediate risk", "prostate cancer, localized", "carcinoma of the prostate gland"],
  plan=["discussed radical prostatectomy vs radiation with ADT", "urology oncology follow-up", "repeat PSA in 3 months"])
for _site, _code, _where in (("sigmoid", "C18.7", "sigmoid colon at 25 cm"), ("ascending", "C18.2", "ascending colon just above the cecum")):
    E(_code, cc=["colonoscopy results", "blood in stool and anemia"], age=(45, 85),
      ctx_site=_site, ctx_where=_where,
      hpi=["screening colonoscopy found a fungating mass in the {where}; pathology adenocarcinoma", "iron deficiency and change in bowel habits led to colonoscopy showing a {site} colon tumor", "here to discuss results of the {site} lesion biopsy"],
      neg=["no bowel obstruction symptoms", "denies jaundice"],
      find=["CEA 12.4", "CT chest/abdomen/pelvis without liver metastases", "circumferential mass in the {where}"],
      ax=["adenocarcinoma of the {site} colon", "{site} colon carcinoma, newly diagnosed", "colon cancer, {site} segment"],
      plan=["colorectal surgery referral for resection", "tattoo placed at colonoscopy", "oncology consult", "MMR/MSI testing of the specimen"])

# -- Chapter 3: blood ---------------------------------------------------------------------------

E("D50.0", cc=["fatigue", "tired and pale"],
  hpi=["heavy menstrual bleeding for {cdur} with fatigue and exertional dyspnea", "chronic slow GI blood loss from known angiodysplasia", "iron deficiency attributed to chronic blood loss"],
  neg=["no melena currently", "denies hematemesis"],
  find=["Hgb {hgb_lo}, MCV {mcv_lo}, ferritin {ferr_lo}", "conjunctival pallor", "guaiac negative today"],
  ax=["iron deficiency anemia from chronic blood loss", "chronic posthemorrhagic anemia, microcytic", "microcytic anemia due to chronic blood loss with low iron stores"],
  plan=["ferrous sulfate 325 mg every other day", "gyn referral for menorrhagia", "IV iron if intolerant", "recheck CBC and ferritin in 8 weeks"])
E("D50.9", cc=["low blood count on labs", "fatigue"],
  hpi=["routine labs showed microcytic anemia; mild fatigue for {cdur}", "no obvious source of bleeding identified yet", "craves ice"],
  neg=["denies melena or hematochezia", "no heavy periods"],
  find=["Hgb {hgb_lo}, MCV {mcv_lo}, ferritin {ferr_lo}", "pale conjunctivae", "no hepatosplenomegaly"],
  ax=["iron deficiency anemia, cause not yet determined", "microcytic anemia with iron deficiency", "low iron anemia"],
  plan=["start oral iron", "colonoscopy and EGD referral to look for a source", "celiac serologies", "recheck CBC in 6 weeks"])
E("D50.8", cc=["fatigue", "anemia follow-up"],
  hpi=["strict vegan diet for several years with poor iron intake", "iron deficiency attributed to inadequate dietary iron; no blood loss", "endoscopy workup negative last year"],
  neg=["denies GI bleeding", "no menorrhagia"],
  find=["Hgb {hgb_lo}, ferritin {ferr_lo}", "stool guaiac negative x3", "mild pallor"],
  ax=["iron deficiency anemia due to inadequate dietary iron intake", "nutritional iron deficiency anemia", "dietary iron-deficiency anemia"],
  plan=["dietitian referral", "oral iron with vitamin C", "recheck ferritin in 3 months"])
E("D51.0", cc=["numbness and fatigue", "abnormal labs"],
  hpi=["fatigue and tingling in the feet for {cdur}", "macrocytic anemia found; intrinsic factor antibodies positive", "mother had pernicious anemia"],
  neg=["not on metformin", "no alcohol use"],
  find=["Hgb {hgb_lo}, MCV 112", "B12 level 110 pg/mL", "decreased vibration sense in the toes", "glossitis"],
  ax=["pernicious anemia", "B12-deficient macrocytic anemia from intrinsic factor deficiency (Addison anemia)", "autoimmune gastritis with B12 deficiency anemia"],
  plan=["cyanocobalamin 1000 mcg IM daily x 1 week then weekly, then monthly", "recheck CBC in 4 weeks", "EGD for gastric cancer screening"])
E("D69.6", cc=["low platelets", "easy bruising"],
  hpi=["incidental platelets of {plt_lo}K on routine CBC", "notes easy bruising on the legs for {cdur}", "no new medications"],
  neg=["denies gum bleeding or nosebleeds", "no melena"],
  find=["platelets {plt_lo}K, Hgb and WBC normal", "smear without clumping or schistocytes", "scattered small bruises on the shins, no petechiae"],
  ax=["low platelet count, etiology unclear", "isolated thrombocytopenia", "mild thrombocytopenia, workup in progress"],
  plan=["repeat CBC in citrate tube", "HIV, hepatitis C, B12/folate", "hematology referral if < 50K", "avoid NSAIDs"])
E("D64.9", cc=["fatigue", "abnormal blood count"],
  hpi=["Hgb found low on pre-op labs", "mild fatigue for {cdur}", "indices normocytic; iron studies and B12 pending"],
  neg=["denies bleeding", "no weight loss"],
  find=["Hgb {hgb_lo}, MCV 88", "reticulocyte count low-normal", "mild pallor"],
  ax=["normocytic anemia, cause not yet determined", "anemia NOS, workup ongoing", "low hemoglobin of unclear etiology"],
  plan=["iron panel, B12, folate, TSH", "SPEP", "recheck CBC in 4 weeks"])

# -- Chapter 4: endocrine -----------------------------------------------------------------------

_DM_MEDS = [("metformin 1000 mg BID", "Z79.84"), ("metformin 500 mg BID", "Z79.84"), ("glipizide 5 mg daily", "Z79.84"), ("empagliflozin 10 mg daily", "Z79.84")]
_DM_CONFLICT = ("E10", "E11", "E13", "O24", "N18", "I12")
E("E11.9", cc=["diabetes follow-up", "3-month DM check"], conflicts=_DM_CONFLICT,
  hpi=["T2DM for {years} years, well controlled on oral agents", "checks sugars a few times a week, fasting 100-130", "routine diabetes visit, no concerns"],
  neg=["denies numbness or tingling in the feet", "no vision changes, last dilated eye exam normal", "no hypoglycemic episodes"],
  find=["A1c {a1c_ok}%", "urine microalbumin normal, eGFR > 90", "monofilament sensation intact bilaterally", "feet without ulcers or calluses"],
  ax=["type 2 DM, controlled, no end-organ complications", "T2DM without retinopathy, nephropathy or neuropathy", "non-insulin-dependent diabetes, uncomplicated and at goal"],
  plan=["continue current regimen", "annual eye exam and foot exam up to date", "recheck A1c in 3-6 months", "dietary counseling"],
  meds=_DM_MEDS)
E("E11.65", cc=["high blood sugars", "diabetes, sugars out of control"], conflicts=_DM_CONFLICT,
  hpi=["T2DM, home fasting readings 220-300 with polyuria and polydipsia", "ran out of metformin {cdur} ago and sugars have been high", "sugars running in the 300s since a steroid taper"],
  neg=["no N/V or abdominal pain", "denies vision changes", "no confusion"],
  find=["A1c {a1c_hi}%", "random glucose {glu_hi} mg/dL", "no ketones in urine, anion gap normal", "eGFR > 90, microalbumin normal"],
  ax=["type 2 diabetes, poorly controlled with hyperglycemia", "T2DM, uncontrolled (A1c above goal), hyperglycemic", "non-insulin-dependent DM with elevated blood sugars"],
  plan=["restart metformin and titrate to 1000 mg BID", "add semaglutide 0.25 mg weekly", "start basal insulin glargine 10 units nightly", "diabetes education referral"],
  meds=_DM_MEDS + [("insulin glargine 20 units nightly", "Z79.4")])
for _stage, _egfr, _ckd in (("3a", "{egfr3a}", "N18.31"), ("3b", "{egfr3b}", "N18.32")):
    E("E11.22", cc=["diabetes and kidney follow-up", "DM with kidney disease"], conflicts=_DM_CONFLICT,
      ctx_stage=_stage, ctx_egfr=_egfr,
      hpi=["T2DM with diabetic nephropathy; eGFR has declined to {egfr} over 2 years", "albuminuria first noted last year, attributed to long-standing type 2 diabetes", "nephrology following for diabetic kidney disease, CKD stage {stage}"],
      neg=["no edema", "denies urinary symptoms"],
      find=["eGFR {egfr} mL/min, UACR {uacr} mg/g", "renal ultrasound: normal-sized echogenic kidneys", "A1c {a1c_ok}%"],
      ax=["diabetic kidney disease from T2DM, CKD {stage}", "type 2 DM with diabetic nephropathy, CKD stage {stage}", "T2DM complicated by diabetic CKD (stage {stage})"],
      plan=["maximize lisinopril for albuminuria", "add empagliflozin for renal protection", "avoid NSAIDs, renally dose medications", "BMP and UACR in 3 months"],
      sec=[(_ckd, "CKD stage {stage}", "CKD {stage}: monitor BMP")], meds=_DM_MEDS)
E("E11.40", cc=["numb feet", "diabetic foot check"], conflicts=_DM_CONFLICT,
  hpi=["T2DM with numbness and burning in the feet", "neuropathic symptoms attributed to diabetes, type not yet characterized", "tingling toes worse at night"],
  neg=["no foot wounds", "denies weakness"],
  find=["reduced monofilament sensation at the toes", "ankle reflexes diminished", "no ulceration"],
  ax=["diabetic neuropathy from type 2 DM, not further specified", "T2DM with diabetic nerve damage, type unspecified", "type 2 diabetes complicated by neuropathy"],
  plan=["NCS/EMG referral to characterize", "daily foot inspection", "podiatry referral", "duloxetine trial"],
  meds=_DM_MEDS)
E("E11.42", cc=["burning feet", "diabetic neuropathy follow-up"], conflicts=_DM_CONFLICT,
  hpi=["T2DM {years} years with symmetric stocking-distribution numbness and burning in both feet", "nerve conduction study confirmed length-dependent sensorimotor polyneuropathy", "pain keeps {him} up at night"],
  neg=["no foot ulcers", "denies falls"],
  find=["absent vibration sense at the great toes bilaterally", "stocking-glove sensory loss to mid-shin", "absent ankle jerks"],
  ax=["diabetic peripheral polyneuropathy, T2DM", "type 2 diabetes with distal symmetric polyneuropathy", "T2DM with diabetic neuralgia of both feet"],
  plan=["pregabalin 75 mg BID", "podiatry every 3 months", "glycemic optimization"],
  meds=_DM_MEDS)
E("E11.319", cc=["diabetic eye exam results", "blurry vision"], conflicts=_DM_CONFLICT,
  hpi=["T2DM; dilated exam by ophthalmology showed dot-blot hemorrhages and microaneurysms", "OCT without macular thickening", "ophthalmology letter reviewed: diabetic retinopathy, severity not graded"],
  neg=["no sudden vision loss", "denies floaters"],
  find=["scattered microaneurysms both eyes", "no macular edema on OCT", "visual acuity 20/30 OU"],
  ax=["T2DM with diabetic retinopathy, no macular edema", "type 2 diabetic retinopathy, macula spared", "diabetic eye disease (retinopathy) without DME"],
  plan=["ophthalmology follow-up in 6 months", "tighten glycemic and BP control", "continue statin"],
  meds=_DM_MEDS)
E("E11.621", cc=["wound on foot", "diabetic foot ulcer"], conflicts=_DM_CONFLICT,
  hpi=["T2DM with a nonhealing ulcer under the first metatarsal head for {dur}", "noticed drainage on {his} sock, has poor sensation in the feet", "ulcer started as a callus"],
  neg=["no fever", "denies spreading redness"],
  find=["1.5 cm ulcer plantar first MTP, granular base, no probe to bone", "x-ray without osteomyelitis", "dorsalis pedis pulses palpable"],
  ax=["diabetic foot ulcer, right plantar forefoot, T2DM", "type 2 DM with plantar foot wound", "neuropathic diabetic ulcer of the foot"],
  plan=["sharp debridement done in clinic", "offloading boot", "wound care referral", "weekly wound checks"],
  sec=[("L97.512", "", "")], meds=_DM_MEDS)
E("E11.649", cc=["low sugars", "shaky spells"], conflicts=_DM_CONFLICT,
  hpi=["T2DM on glipizide with episodes of sweating and shakiness, fingerstick {glu_lo}", "skipped lunch and had a low sugar reaction, self-treated with juice", "hypoglycemic episodes twice this week"],
  neg=["no loss of consciousness", "denies seizure"],
  find=["fingerstick glucose {glu_lo} mg/dL during episode, 112 now", "alert and oriented", "A1c {a1c_ok}%"],
  ax=["T2DM with hypoglycemia, no loss of consciousness", "sulfonylurea-related low blood sugar in type 2 diabetes", "type 2 diabetic hypoglycemic reactions, not comatose"],
  plan=["stop glipizide", "hypoglycemia education, carry glucose tabs", "CGM prescription"],
  meds=_DM_MEDS)
E("E10.9", cc=["type 1 diabetes follow-up", "insulin pump check"], age=(18, 60), conflicts=_DM_CONFLICT,
  hpi=["T1DM since age 12 on an insulin pump, doing well", "CGM time in range 78%", "routine follow-up, no concerns"],
  neg=["no DKA episodes this year", "denies numbness in the feet"],
  find=["A1c {a1c_ok}%", "normal retinal exam this year", "urine microalbumin normal", "normal foot exam"],
  ax=["type 1 DM, well controlled, no complications", "juvenile-onset diabetes, stable on pump therapy", "T1DM without retinopathy, nephropathy or neuropathy"],
  plan=["continue pump settings", "annual labs", "follow up 3 months"],
  meds=[("insulin pump with insulin lispro", "Z79.4")])
E("E10.10", cc=["vomiting, high sugar", "DKA"], setting="ed", age=(16, 50), conflicts=_DM_CONFLICT,
  hpi=["T1DM with nausea, vomiting and abdominal pain after missing insulin doses for 2 days", "pump site failure overnight, sugars > 400 with Kussmaul breathing", "ketones large on home meter"],
  neg=["alert and oriented, no coma", "denies chest pain"],
  find=["glucose {glu_hi}, bicarbonate 11, anion gap 24", "beta-hydroxybutyrate 6.2", "pH 7.18 on VBG"],
  ax=["diabetic ketoacidosis in T1DM, without coma", "type 1 diabetes with DKA, mental status intact", "DKA, type 1 diabetic, awake and alert"],
  plan=["insulin infusion per DKA protocol", "IV fluids and potassium repletion", "BMP q2h, close anion gap before transitioning to SC insulin", "admit to ICU"],
  vit={"HR": (108, 128), "RR": (24, 32)}, meds=[("insulin glargine 18 units nightly", "Z79.4")])
E("E10.65", cc=["high sugars", "type 1 diabetes, poor control"], age=(16, 60), conflicts=_DM_CONFLICT,
  hpi=["T1DM with readings in the 300s over the last month, missing boluses at school/work", "CGM shows time in range 35% with frequent highs", "polyuria and thirst"],
  neg=["no ketones on home testing", "denies vomiting"],
  find=["A1c {a1c_hi}%", "glucose {glu_hi} without anion gap", "urine ketones negative"],
  ax=["type 1 diabetes, poorly controlled, hyperglycemic", "T1DM uncontrolled with high blood glucose, no DKA", "juvenile-onset diabetes with elevated sugars above target"],
  plan=["adjust insulin-to-carb ratio", "diabetes educator visit", "follow up 4 weeks with CGM download"],
  meds=[("insulin glargine 22 units nightly", "Z79.4"), ("insulin lispro with meals", "Z79.4")])
E("E03.9", cc=["fatigue and weight gain", "thyroid follow-up"], conflicts=("E03", "E05", "E06"),
  hpi=["fatigue, cold intolerance and constipation for {cdur}", "TSH elevated on recent labs", "gained 12 lb without diet changes"],
  neg=["no neck swelling", "denies palpitations"],
  find=["TSH {tsh_hi}, free T4 low", "dry skin, delayed relaxation of reflexes", "thyroid not enlarged"],
  ax=["underactive thyroid", "primary hypothyroidism, newly diagnosed", "hypothyroid state, cause not yet established"],
  plan=["start levothyroxine 50 mcg daily", "recheck TSH in 6 weeks", "take on empty stomach"])
E("E05.00", cc=["palpitations and weight loss", "overactive thyroid"], conflicts=("E03", "E05", "E06"),
  hpi=["palpitations, heat intolerance and 15 lb weight loss over {cdur}", "gritty eyes and tremor", "TSH suppressed on labs"],
  neg=["no fever or delirium", "denies chest pain"],
  find=["TSH {tsh_lo}, free T4 elevated, TRAb positive", "diffusely enlarged nontender thyroid with bruit", "fine tremor, lid lag, mild proptosis"],
  ax=["Graves disease with diffuse goiter, no storm", "hyperthyroidism due to Graves' disease, compensated", "toxic diffuse goiter (Graves), stable"],
  plan=["methimazole 10 mg daily", "propranolol for symptoms", "endocrinology referral", "ophthalmology for eye symptoms"],
  vit={"HR": (98, 118)})
E("E06.3", cc=["thyroid antibodies", "neck fullness"], conflicts=("E03", "E05", "E06"),
  hpi=["TPO antibodies strongly positive; mild fatigue", "firm goiter noted on exam by gyn", "family history of thyroid disease"],
  neg=["no compressive symptoms", "denies neck pain"],
  find=["TPO Ab > 600, TSH mildly elevated", "firm, lobulated, nontender goiter", "ultrasound: heterogeneous echotexture"],
  ax=["Hashimoto's thyroiditis", "chronic lymphocytic thyroiditis", "Hashimoto disease with goiter"],
  plan=["start low-dose levothyroxine", "TSH in 8 weeks", "no FNA needed"], sex="F")
E("E78.5", cc=["cholesterol follow-up", "lipid results"], conflicts=("E78",),
  hpi=["lipid panel reviewed; LDL elevated", "dyslipidemia on diet alone", "discussed ASCVD risk score"],
  neg=["no chest pain", "denies muscle aches on statin"],
  find=["total cholesterol 262, LDL 168, HDL 44, TG 190", "10-year ASCVD risk 11%", "no xanthomas"],
  ax=["hyperlipidemia", "dyslipidemia, on statin", "elevated lipids (hyperlipidemia NOS)"],
  plan=["start atorvastatin 20 mg", "recheck lipids and LFTs in 8 weeks", "Mediterranean diet"])
E("E78.00", cc=["high cholesterol", "LDL high"], conflicts=("E78",),
  hpi=["LDL {ldl} with normal triglycerides", "strong family history of early MI; father at 48", "isolated LDL elevation on repeat testing"],
  neg=["denies chest pain", "no thyroid symptoms"],
  find=["LDL {ldl}, TG 110, HDL 52", "TSH normal", "tendon xanthomas absent"],
  ax=["pure hypercholesterolemia", "isolated LDL hypercholesterolemia", "elevated LDL cholesterol, triglycerides normal"],
  plan=["high-intensity statin", "consider ezetimibe if LDL not at goal", "lipids in 6-8 weeks"])
E("E78.1", cc=["very high triglycerides", "lipid results"], conflicts=("E78",),
  hpi=["triglycerides {tg} on fasting panel, LDL normal", "drinks several beers nightly", "prior pancreatitis scare"],
  neg=["no abdominal pain now", "denies xanthomas"],
  find=["TG {tg}, LDL 96", "lipase normal", "eruptive xanthomas absent"],
  ax=["pure hypertriglyceridemia", "isolated elevated fasting triglycerides", "endogenous hyperglyceridemia"],
  plan=["fenofibrate 145 mg daily", "icosapent ethyl", "cut alcohol and simple carbohydrates", "recheck TG in 6 weeks"])
E("E78.2", cc=["cholesterol and triglycerides up", "lipid follow-up"], conflicts=("E78",),
  hpi=["both LDL and triglycerides elevated on repeat fasting panels", "mixed dyslipidemia, diet counseling tried", "metabolic syndrome features"],
  neg=["no chest pain", "denies myalgias"],
  find=["LDL 182, TG 410, HDL 34", "waist circumference 104 cm", "TSH normal"],
  ax=["combined hyperlipidemia", "elevated cholesterol with elevated triglycerides", "mixed dyslipidemia (LDL and TG both high)"],
  plan=["rosuvastatin 20 mg", "add fenofibrate if TG remain > 500", "lifestyle modification"])
E("E87.1", cc=["low sodium on labs", "confusion and nausea"],
  hpi=["Na {na_lo} on routine labs after starting hydrochlorothiazide", "mild nausea and unsteadiness", "drinks large volumes of water"],
  neg=["no seizures", "denies vomiting"],
  find=["serum Na {na_lo}, serum osm 258", "urine osm 420", "euvolemic on exam"],
  ax=["hyponatremia, thiazide-associated", "low serum sodium, hypo-osmolar", "hypotonic hyponatremia"],
  plan=["stop HCTZ", "fluid restriction 1.2 L/day", "BMP in 48-72 h"])
E("E66.01", cc=["weight management", "obesity consult"], conflicts=("E66",),
  hpi=["BMI {bmi40}, weight gain over years from high-calorie diet and sedentary work", "tried multiple diets without sustained loss", "interested in bariatric surgery"],
  neg=["no binge eating", "denies thyroid symptoms"],
  find=["BMI {bmi40}", "TSH normal", "acanthosis nigricans on neck"],
  ax=["severe obesity due to excess calorie intake, BMI > 40", "class III obesity from caloric excess", "morbid obesity, dietary"],
  plan=["start semaglutide 0.25 mg weekly", "bariatric surgery referral", "dietitian"],
  sec=[("Z68.41", "", "")])
E("E66.9", cc=["weight", "annual weight discussion"], conflicts=("E66",),
  hpi=["BMI {bmi30}, wants help losing weight", "weight up 20 lb in {cdur}", "sedentary job"],
  neg=["no snoring", "denies binge eating"],
  find=["BMI {bmi30}", "waist 102 cm", "A1c 5.6%"],
  ax=["obesity, BMI 30-39", "obesity NOS", "class I-II obesity"],
  plan=["dietary counseling, 150 min/week exercise", "follow up 3 months", "consider GLP-1 if no progress"])
E("E55.9", cc=["fatigue, low vitamin D", "lab follow-up"],
  hpi=["25-OH vitamin D {vitd} ng/mL on recent labs", "diffuse aches and fatigue", "minimal sun exposure, works nights"],
  neg=["no fractures", "denies bone pain"],
  find=["25-OH vitamin D {vitd}", "calcium and PTH normal", "no proximal weakness"],
  ax=["low vitamin D level", "hypovitaminosis D", "avitaminosis D"],
  plan=["vitamin D3 50,000 IU weekly x 8 weeks then 2000 IU daily", "recheck level in 3 months"])

# -- Chapter 5: mental and behavioural -----------------------------------------------------------

_MDD_CONF = ("F32", "F33")
E("F32.0", cc=["feeling down", "low mood"], conflicts=_MDD_CONF,
  hpi=["first episode of depressed mood and poor sleep for 3 weeks after a job loss", "PHQ-9 {phq}; still working and functioning", "no prior episodes of depression"],
  neg=["denies SI/HI", "no manic symptoms", "no psychotic symptoms"],
  find=["PHQ-9 {phq}", "affect mildly constricted, thought process linear", "TSH normal"],
  ax=["major depression, single episode, mild", "MDD, first episode, mild severity", "mild major depressive episode (first)"],
  plan=["CBT referral", "sleep hygiene", "consider SSRI if no improvement", "follow up 4 weeks"])
E("F32.1", cc=["depression", "can't get out of bed"], conflicts=_MDD_CONF,
  hpi=["first lifetime episode of depressed mood, anhedonia and poor concentration for 6 weeks", "PHQ-9 {phq_mod}; missing some work days", "no prior depressive episodes"],
  neg=["denies SI/HI", "no psychosis", "no history of mania"],
  find=["PHQ-9 {phq_mod}", "flat affect, psychomotor slowing", "safety plan reviewed"],
  ax=["major depressive disorder, first episode, moderate severity", "MDD single episode, moderate", "moderate major depressive episode, first occurrence"],
  plan=["start sertraline 50 mg daily", "therapy referral", "follow up 2-4 weeks"])
E("F32.2", cc=["severe depression", "not eating, not sleeping"], conflicts=_MDD_CONF,
  hpi=["first episode; depressed mood for 2 months with 15 lb weight loss, insomnia, unable to work", "PHQ-9 {phq_sev}; passive death wish but no plan", "no hallucinations or delusions"],
  neg=["no psychotic features", "denies intent or plan", "no mania"],
  find=["PHQ-9 {phq_sev}", "tearful, poor eye contact, reality testing intact", "C-SSRS low-moderate risk"],
  ax=["major depressive disorder, single episode, severe, no psychosis", "severe first-episode MDD, non-psychotic", "severe major depressive episode (first) without psychotic features"],
  plan=["start escitalopram 10 mg", "urgent psychiatry referral", "safety plan, crisis line", "follow up 1 week"])
E("F33.1", cc=["depression back", "mood follow-up"], conflicts=_MDD_CONF,
  hpi=["third depressive episode in {his} life; symptoms returned after stopping sertraline", "recurrent MDD, currently PHQ-9 {phq_mod}", "prior episodes in 2015 and 2019"],
  neg=["denies SI", "no manic episodes"],
  find=["PHQ-9 {phq_mod}", "constricted affect", "linear thought process"],
  ax=["recurrent major depression, moderate", "MDD, recurrent episode, moderate severity", "recurrent depressive disorder, current episode moderate"],
  plan=["restart sertraline, titrate to 100 mg", "psychotherapy", "follow up 4 weeks"])
E("F32.A", cc=["feeling depressed", "mood"], conflicts=_MDD_CONF,
  hpi=["low mood and low energy, not yet fully assessed for MDD criteria", "PHQ-2 positive at intake", "stress at home"],
  neg=["denies SI", "no psychosis"],
  find=["PHQ-2 positive, full PHQ-9 deferred", "affect sad", "TSH pending"],
  ax=["depressive disorder NOS", "depression, not further specified", "depressed mood, type not yet determined"],
  plan=["full psychiatric evaluation", "behavioral health referral", "follow up 2 weeks"])
E("F41.1", cc=["anxiety", "constant worry"], conflicts=("F41",),
  hpi=["excessive worry about work, health and family most days for over 6 months", "restless, trouble sleeping, muscle tension", "GAD-7 {gad}"],
  neg=["no panic attacks", "denies SI", "no substance use"],
  find=["GAD-7 {gad}", "anxious affect, fidgeting", "TSH normal"],
  ax=["GAD", "chronic generalized anxiety (GAD-7 {gad})", "anxiety neurosis, generalized type"],
  plan=["start escitalopram 10 mg", "CBT referral", "avoid benzodiazepines", "follow up 4 weeks"])
E("F41.0", cc=["panic attacks", "episodes of racing heart"], conflicts=("F41",),
  hpi=["recurrent sudden episodes of palpitations, chest tightness, tingling and fear of dying, lasting 10 minutes", "now avoiding driving for fear of another attack", "ED visit last month with normal cardiac workup"],
  neg=["no chest pain with exertion", "denies drug use"],
  find=["EKG normal", "TSH normal", "calm during visit"],
  ax=["panic disorder", "recurrent panic attacks (panic state)", "episodic paroxysmal anxiety"],
  plan=["sertraline 25 mg titrating up", "CBT with exposure", "breathing techniques"])
E("F10.20", cc=["wants help with drinking", "alcohol use"], conflicts=("F10",),
  hpi=["drinks {drinks} drinks daily for years, failed attempts to cut down, drinks in the morning", "continues to drink despite a DUI and marital problems", "AUDIT score 24"],
  neg=["no current withdrawal symptoms", "denies seizures", "no hallucinations"],
  find=["AST 88, ALT 45, GGT elevated", "no tremor", "MCV 101"],
  ax=["alcohol use disorder, severe, not in withdrawal", "alcohol dependence without complications", "severe AUD, uncomplicated"],
  plan=["start naltrexone 50 mg", "refer to outpatient addiction program", "thiamine and folate", "AA information"])
E("F10.239", cc=["shaking, sweating", "alcohol withdrawal"], setting="ed", conflicts=("F10",),
  hpi=["daily heavy drinker, last drink 18 hours ago, now tremulous and anxious", "similar withdrawal episodes before", "CIWA {ciwa} on arrival"],
  neg=["no hallucinations", "denies seizure today"],
  find=["CIWA {ciwa}", "coarse tremor, diaphoresis", "ethanol level undetectable"],
  ax=["alcohol dependence in withdrawal", "acute alcohol withdrawal in a patient with alcohol dependence", "AUD with withdrawal syndrome"],
  plan=["symptom-triggered lorazepam per CIWA", "thiamine 100 mg IV before glucose", "admit for monitoring"],
  vit={"HR": (104, 124), "SBP": (150, 172)})
E("F10.10", cc=["drinking concerns", "alcohol screening"], conflicts=("F10",),
  hpi=["binge drinking on weekends, 6-8 drinks per occasion, missed work twice", "spouse concerned; no tolerance or withdrawal", "AUDIT score 12"],
  neg=["no morning drinking", "denies withdrawal symptoms"],
  find=["LFTs normal", "AUDIT-C 8", "no stigmata of liver disease"],
  ax=["alcohol use disorder, mild", "harmful alcohol use without dependence", "problem drinking (alcohol abuse), uncomplicated"],
  plan=["brief intervention", "set drinking goals", "follow up 1 month"])
E("F17.210", cc=["wants to quit smoking", "smoking cessation"], conflicts=("F17", "Z87"),
  hpi=["smokes {ppd} for {years} years, first cigarette within 10 minutes of waking", "tried to quit twice, relapsed due to cravings", "ready to set a quit date"],
  neg=["no cough or hemoptysis", "denies vaping or other tobacco"],
  find=["{pack} pack-years", "lungs clear", "low-dose CT due next month"],
  ax=["tobacco use disorder, cigarettes", "cigarette dependence, no complications", "nicotine addiction (cigarettes)"],
  plan=["varenicline starter pack", "nicotine patch 21 mg plus gum PRN", "quitline referral", "follow up 2 weeks after quit date"])
E("F43.10", cc=["nightmares and flashbacks", "trauma symptoms"],
  hpi=["nightmares, flashbacks and hypervigilance since a violent assault", "avoids the area where it happened", "PCL-5 52"],
  neg=["denies SI", "no substance use"],
  find=["PCL-5 52", "hypervigilant, startles easily", "linear thought process"],
  ax=["PTSD", "posttraumatic stress syndrome", "trauma-related stress disorder (PTSD)"],
  plan=["trauma-focused CBT", "prazosin for nightmares", "sertraline"])

# -- Chapter 6: nervous system -------------------------------------------------------------------

_MIG = ("G43", "G44", "R51")
E("G43.909", cc=["headaches", "recurring headaches"], conflicts=_MIG,
  hpi=["recurring throbbing headaches with photophobia and nausea, 3-4 per month, lasting a day", "headaches respond to sumatriptan", "aura status unclear from history"],
  neg=["no status: no attack longer than 72 h", "no neuro deficits", "denies worst headache of life"],
  find=["normal neuro exam", "fundi normal", "no meningismus"],
  ax=["migraine", "migraine headaches, responsive to triptan", "migraine NOS"],
  plan=["sumatriptan 50 mg PRN", "headache diary", "limit analgesics to < 10 days/month"])
E("G43.009", cc=["migraine", "bad headaches"], conflicts=_MIG,
  hpi=["unilateral pulsating headaches with nausea and light sensitivity, no visual or sensory symptoms beforehand", "attacks 2-3 per month, triggered by sleep loss", "episodes resolve within a day with triptans"],
  neg=["no preceding aura", "denies weakness or numbness", "no attack lasting > 72 h"],
  find=["normal neuro exam", "BP normal", "no papilledema"],
  ax=["common migraine (no aura), episodic", "migraine without aura, episodic", "common migraine, responsive to treatment"],
  plan=["rizatriptan 10 mg PRN", "propranolol prophylaxis discussed", "sleep regularity"])
E("G43.109", cc=["migraine with visual symptoms", "headaches with zigzag lines"], conflicts=_MIG,
  hpi=["20 minutes of shimmering zigzag lines in the visual field followed by a throbbing headache", "classic migraine since teens, 2 per month", "aura fully reverses"],
  neg=["no persistent deficits", "no headache lasting > 72 h", "denies weakness"],
  find=["normal neuro exam", "fundi normal", "MRI brain previously normal"],
  ax=["classic migraine with visual aura, episodic", "migraine with typical aura", "classical migraine, episodic, treatment-responsive"],
  plan=["avoid estrogen-containing contraception", "triptan PRN", "topiramate prophylaxis if frequency increases"])
E("G44.209", cc=["daily headaches", "pressure headache"], conflicts=_MIG,
  hpi=["band-like pressure around the forehead most afternoons, worse with stress", "no nausea or light sensitivity", "long hours at a computer"],
  neg=["no aura", "no neuro deficits"],
  find=["pericranial muscle tenderness", "normal neuro exam"],
  ax=["tension headache", "tension-type headaches, episodic, responsive", "muscle-contraction type headache"],
  plan=["NSAIDs PRN, limit to 2 days/week", "ergonomic changes, stress management", "physical therapy"])
E("G40.909", cc=["seizure", "seizure follow-up"],
  hpi=["known seizure disorder, last seizure {cdur} ago", "seizures well controlled on levetiracetam", "witnessed generalized tonic-clonic event last year"],
  neg=["no breakthrough seizures", "no prolonged seizures or clusters"],
  find=["normal neuro exam", "EEG with intermittent epileptiform discharges", "MRI brain unremarkable"],
  ax=["epilepsy, well controlled", "seizure disorder NOS on monotherapy", "epileptic seizures, controlled, no status"],
  plan=["continue levetiracetam 750 mg BID", "driving restrictions reviewed", "neurology follow-up"])
E("G47.33", cc=["snoring, daytime sleepiness", "sleep study results"], conflicts=("G47",),
  hpi=["loud snoring, witnessed apneas and morning headaches", "Epworth 15", "sleep study showed AHI 32"],
  neg=["no cataplexy", "denies drowsy driving accidents"],
  find=["AHI 32 on polysomnography", "Mallampati IV, neck circumference 44 cm", "BMI {bmi30}"],
  ax=["OSA, moderate-severe", "obstructive sleep apnea hypopnea syndrome", "OSA on polysomnogram"],
  plan=["start CPAP auto 5-15", "weight loss", "avoid sedatives and alcohol at night"])
for _side, _code, _hand in (("right", "G56.01", "right hand"), ("left", "G56.02", "left hand"), ("bilateral", "G56.03", "both hands")):
    E(_code, cc=["hand numbness", "tingling fingers"], conflicts=("G56",),
      ctx_hand=_hand, ctx_side=_side,
      hpi=["numbness and tingling in the thumb, index and middle fingers of the {hand}, worse at night", "wakes at night shaking out the {hand}", "works as a typist; symptoms in the {hand} for {cdur}"],
      neg=["no neck pain", "denies weakness in the legs"],
      find=["positive Tinel's and Phalen's on the {side} side" if _side != "bilateral" else "positive Tinel's and Phalen's at both wrists", "NCS: median neuropathy at the wrist, {hand}", "thenar bulk preserved"],
      ax=["median nerve entrapment at the wrist, {hand}", "CTS of the {hand}", "carpal tunnel, {side}"],
      plan=["night wrist splint for the {hand}", "steroid injection offered", "hand surgery referral if persistent"])
E("G20.A1", cc=["tremor", "slow walking"], age=(58, 88),
  hpi=["resting tremor of the right hand and slowness for {cdur}", "stable on carbidopa-levodopa with smooth response throughout the day", "no wearing-off periods"],
  neg=["no dyskinesias", "no motor fluctuations", "denies hallucinations"],
  find=["pill-rolling resting tremor right > left", "cogwheel rigidity", "shuffling gait, reduced arm swing"],
  ax=["Parkinson disease, stable, no dyskinesia and no OFF periods", "idiopathic parkinsonism on levodopa, no fluctuations", "PD without motor complications"],
  plan=["continue carbidopa-levodopa 25/100 TID", "PT for gait", "neurology follow-up"])

# -- Chapters 7 and 8: eye, ear ------------------------------------------------------------------

for _side, _code, _eye in (("right", "H25.11", "right eye"), ("left", "H25.12", "left eye"), ("bilateral", "H25.13", "both eyes")):
    E(_code, cc=["blurry vision", "glare when driving at night"], age=(58, 90), conflicts=("H25",),
      ctx_eye=_eye,
      hpi=["gradual blurring of vision in the {eye} over {cdur}", "glare from headlights at night, worse in the {eye}", "trouble reading signs; {eye} affected"],
      neg=["no eye pain", "denies flashes or floaters"],
      find=["2+ nuclear sclerosis in the {eye}", "BCVA reduced in the {eye}", "fundus otherwise unremarkable"],
      ax=["age-related nuclear sclerotic cataract, {eye}", "senile nuclear cataract of the {eye}", "nuclear sclerosis cataract, {eye}"],
      plan=["cataract surgery referral for the {eye}", "updated glasses Rx", "anti-glare lenses"])
for _side, _code, _eye in (("right", "H10.31", "right eye"), ("bilateral", "H10.33", "both eyes")):
    E(_code, cc=["red eye", "pink eye"], conflicts=("H10",),
      ctx_eye=_eye,
      hpi=["redness and watery discharge in the {eye} since yesterday", "{eye} crusted shut in the morning", "coworker had pink eye"],
      neg=["no vision loss", "denies photophobia", "no contact lens use"],
      find=["conjunctival injection in the {eye}", "watery discharge, cornea clear", "no preauricular nodes"],
      ax=["acute conjunctivitis, {eye}", "acute pink eye of the {eye}", "acute conjunctival inflammation, {eye}"],
      plan=["warm compresses", "polymyxin/trimethoprim drops if purulent", "hand hygiene", "return if vision changes"])
E("H40.1131", cc=["glaucoma follow-up", "high eye pressure"], age=(50, 88),
  hpi=["elevated IOP found at optometry", "visual fields show early defects in both eyes", "family history of glaucoma"],
  neg=["no eye pain", "denies halos"],
  find=["IOP 26 OD and 27 OS", "open angles on gonioscopy", "cup-to-disc 0.6 both eyes with early nasal steps"],
  ax=["POAG, both eyes, early stage", "open-angle glaucoma OU, mild", "primary open angle glaucoma bilaterally, early"],
  plan=["latanoprost nightly both eyes", "recheck IOP in 6 weeks", "repeat visual fields"])
for _side, _code, _ear in (("right", "H66.91", "right ear"), ("left", "H66.92", "left ear"), ("bilateral", "H66.93", "both ears")):
    E(_code, cc=["ear pain", "ear ache and fever"], age=(18, 60), conflicts=("H66", "H65"),
      ctx_ear=_ear,
      hpi=["pain in the {ear} for {dur} following a cold", "muffled hearing in the {ear}", "low-grade fever and pulling at the {ear}"],
      neg=["no drainage", "denies vertigo"],
      find=["TM bulging and erythematous, {ear}", "decreased TM mobility on pneumatic otoscopy, {ear}", "canals clear"],
      ax=["middle ear infection, {ear}", "acute OM of the {ear}", "otitis media, {ear}"],
      plan=["amoxicillin 875 mg BID x 10 days", "ibuprofen PRN", "recheck if no improvement in 48-72 h"],
      vit={"T": (37.6, 38.6)})
for _side, _code, _ear in (("right", "H61.21", "right ear"), ("left", "H61.22", "left ear"), ("bilateral", "H61.23", "both ears")):
    E(_code, cc=["plugged ear", "hearing loss"], conflicts=("H61",),
      ctx_ear=_ear,
      hpi=["muffled hearing in the {ear} for {dur}", "uses cotton swabs daily", "fullness in the {ear} after swimming"],
      neg=["no ear pain", "denies vertigo or drainage"],
      find=["{ear}: canal fully occluded with hard wax, TM not visualized", "after irrigation TM intact", "Weber lateralizes"],
      ax=["cerumen impaction, {ear}", "earwax blockage of the {ear}", "impacted ear wax, {ear}"],
      plan=["irrigation in clinic", "carbamide peroxide drops", "stop cotton swab use"])

# -- Chapter 9: circulatory ---------------------------------------------------------------------

_HTN_CONF = ("I10", "I11", "I12", "I13", "I15", "I16", "I50", "N18")
E("I10", cc=["blood pressure check", "HTN follow-up"], conflicts=_HTN_CONF,
  hpi=["home BP readings 150s/90s", "newly elevated readings on three visits", "on lisinopril, adherence good"],
  neg=["denies chest pain", "no headaches or vision changes", "denies SOB"],
  find=["BP {sbp}/{dbp} repeated", "BMP normal, creatinine {cr_base}", "EKG normal, no LVH"],
  ax=["essential hypertension, not at goal", "primary HTN", "hypertension, uncomplicated"],
  plan=["increase lisinopril to 40 mg", "add amlodipine 5 mg", "low sodium diet", "home BP log, follow up 4 weeks"],
  vit=HTNV)
E("I11.0", cc=["leg swelling and SOB", "heart failure follow-up"], conflicts=_HTN_CONF,
  hpi=["long-standing poorly controlled HTN with DOE and orthopnea", "echo shows LVH with reduced relaxation attributed to hypertension", "heart failure felt due to hypertensive heart disease"],
  neg=["no chest pain", "denies syncope"],
  find=["BNP {bnp}", "echo: concentric LVH, EF {ef_ok}%", "bibasilar crackles, 1+ edema"],
  ax=["hypertensive heart failure", "HTN heart disease with CHF", "heart failure due to hypertensive heart disease"],
  plan=["furosemide 40 mg daily", "optimize BP control", "daily weights"],
  sec=[("I50.9", "", "")], vit=HTNV, age=(50, 88))
E("I11.9", cc=["BP follow-up", "abnormal echo"], conflicts=_HTN_CONF,
  hpi=["long-standing HTN; echo for a murmur showed LVH", "no symptoms of heart failure", "BP controlled on two agents"],
  neg=["no DOE, orthopnea or PND", "no edema"],
  find=["echo: concentric LVH, EF {ef_ok}%, no valvular disease", "EKG with LVH voltage", "lungs clear, no edema"],
  ax=["hypertensive heart disease NOS, no heart failure", "HTN with LVH, compensated, no CHF", "hypertensive cardiomyopathy without failure"],
  plan=["continue amlodipine and losartan", "repeat echo in 1 year"],
  vit=HTNV)
for _stage, _egfr, _ckd in (("3a", "{egfr3a}", "N18.31"), ("3b", "{egfr3b}", "N18.32"), ("4", "{egfr4}", "N18.4")):
    E("I12.9", cc=["kidney function follow-up", "HTN and CKD"], conflicts=_HTN_CONF + ("E11", "E10"),
      ctx_stage=_stage, ctx_egfr=_egfr,
      hpi=["long-standing HTN with slowly declining kidney function, eGFR {egfr}", "nephrosclerosis attributed to hypertension; not diabetic", "CKD stage {stage} on ACE inhibitor"],
      neg=["no edema", "denies uremic symptoms"],
      find=["eGFR {egfr}, potassium 4.8", "small echogenic kidneys on ultrasound", "UACR 80"],
      ax=["hypertensive nephrosclerosis with CKD stage {stage}", "hypertensive renal disease, CKD {stage}", "HTN-related CKD (stage {stage})"],
      plan=["continue lisinopril, BP goal < 130/80", "avoid NSAIDs", "nephrology follow-up", "BMP in 3 months"],
      sec=[(_ckd, "", "")], vit=HTNV)
E("I25.10", cc=["CAD follow-up", "cardiology follow-up"], conflicts=("I20", "I21", "I25"),
  hpi=["known coronary disease on cath {cdur} ago, medically managed", "no angina since starting therapy", "walks 2 miles daily without symptoms"],
  neg=["denies exertional chest pain", "no DOE"],
  find=["EKG: old inferior Q waves, no acute changes", "LDL 62 on statin", "RRR, no murmurs"],
  ax=["CAD, native vessels, stable, no angina", "coronary atherosclerosis without angina", "atherosclerotic heart disease NOS, asymptomatic"],
  plan=["continue aspirin and high-intensity statin", "continue metoprolol", "cardiac rehab encouraged"], age=(50, 88))
E("I20.9", cc=["chest pressure with exertion", "chest tightness"], conflicts=("I20", "I21", "I25"),
  hpi=["substernal pressure when climbing stairs, relieved by rest within 5 minutes, for {cdur}", "pattern unchanged, stable exertional symptoms", "risk factors: smoking history, HLD"],
  neg=["no rest pain", "denies syncope"],
  find=["EKG without acute changes", "troponin negative", "exercise stress test pending"],
  ax=["stable angina", "exertional anginal syndrome", "ischemic chest pain, stable pattern"],
  plan=["aspirin 81 mg", "nitroglycerin SL PRN", "metoprolol", "stress test"], age=(45, 85))
E("I21.4", cc=["chest pain", "chest pressure"], setting="ed", conflicts=("I20", "I21", "I25"),
  hpi=["substernal pressure radiating to the left arm for 2 hours with diaphoresis", "troponin rising from 0.08 to {trop}", "EKG with ST depressions in the lateral leads, no ST elevation"],
  neg=["no ST elevation on serial EKGs", "denies tearing pain"],
  find=["troponin I {trop} ng/mL and rising", "ST depression V4-V6", "echo: new lateral hypokinesis"],
  ax=["NSTEMI", "non-ST-elevation MI, type 1", "acute subendocardial myocardial infarction"],
  plan=["aspirin, ticagrelor, heparin drip", "high-intensity statin", "cardiology for cath within 24 h"],
  age=(45, 88))
E("I21.19", cc=["crushing chest pain", "chest pain and vomiting"], setting="ed", conflicts=("I20", "I21", "I25"),
  hpi=["sudden crushing chest pain 1 hour ago with nausea", "EKG with ST elevation in II, III and aVF with reciprocal changes in I and aVL", "cath lab activated; culprit in the right coronary artery"],
  neg=["no prior MI", "denies cocaine use"],
  find=["ST elevation in inferior leads", "troponin {trop}", "bradycardia 52"],
  ax=["acute inferior STEMI, RCA culprit", "inferior wall transmural MI", "ST-elevation MI of the inferior wall (RCA)"],
  plan=["emergent PCI", "aspirin, heparin, ticagrelor", "CCU admission"],
  age=(45, 88))
_AF_CONF = ("I48",)
_AF_MEDS = [("apixaban 5 mg BID", "Z79.01"), ("rivaroxaban 20 mg daily", "Z79.01"), "metoprolol succinate 50 mg daily", "diltiazem 120 mg daily"]
E("I48.91", cc=["irregular heartbeat", "palpitations"], conflicts=_AF_CONF,
  hpi=["irregularly irregular pulse noted at a pharmacy BP machine", "atrial fibrillation on EKG; duration and pattern not yet established", "intermittent palpitations"],
  neg=["no syncope", "denies chest pain"],
  find=["EKG: AF with ventricular rate 96", "TSH normal", "echo pending"],
  ax=["AFib, type not yet characterized", "atrial fibrillation, new, pattern unknown", "AF, newly detected"],
  plan=["CHA2DS2-VASc 3, start anticoagulation", "rate control", "Holter to characterize burden"],
  meds=_AF_MEDS, age=(50, 90))
E("I48.0", cc=["episodes of racing heart", "palpitations that come and go"], conflicts=_AF_CONF,
  hpi=["episodes of palpitations lasting a few hours that stop on their own", "Holter: self-terminating runs of AF, longest 9 hours", "sinus rhythm today"],
  neg=["no episodes > 7 days", "denies syncope"],
  find=["EKG today: normal sinus rhythm", "Holter with AF burden 8%", "echo: normal LA size"],
  ax=["paroxysmal AF", "intermittent self-terminating atrial fibrillation", "PAF, symptomatic"],
  plan=["flecainide pill-in-pocket discussed", "anticoagulation per CHA2DS2-VASc", "EP referral for ablation"],
  meds=_AF_MEDS, age=(40, 88))
E("I48.11", cc=["AF follow-up", "fatigue"], conflicts=_AF_CONF,
  hpi=["continuous AF for over a year despite cardioversion attempt", "rhythm control still the goal; ablation planned", "fatigue and reduced exercise tolerance"],
  neg=["no syncope", "denies chest pain"],
  find=["EKG: AF, rate 88", "echo: LA dilated", "in AF at every visit for 14 months"],
  ax=["long-standing persistent AF (> 12 months), rhythm control strategy", "persistent atrial fibrillation over one year, ablation planned", "longstanding persistent AFib"],
  plan=["EP referral for catheter ablation", "continue anticoagulation", "amiodarone pre-ablation"],
  meds=_AF_MEDS, age=(50, 88))
E("I48.20", cc=["chronic AF check", "heart rhythm follow-up"], conflicts=_AF_CONF,
  hpi=["has had AF for many years; rate control only", "listed as chronic AF in records; type not documented as permanent", "asymptomatic"],
  neg=["no palpitations", "denies bleeding"],
  find=["EKG: AF, rate 78", "INR 2.4", "echo: biatrial enlargement"],
  ax=["chronic atrial fibrillation", "chronic AF, rate controlled", "long-standing AF (chronic, type not specified)"],
  plan=["continue rate control", "continue anticoagulation", "annual echo"],
  meds=_AF_MEDS, age=(60, 92))
_HF_CONF = ("I50", "I11", "I13", "I10")
E("I50.22", cc=["heart failure follow-up", "HFrEF clinic"], conflicts=_HF_CONF,
  hpi=["HFrEF, EF {ef_lo}%, stable NYHA II, weight stable", "ischemic cardiomyopathy with reduced EF, no recent decompensation", "euvolemic on current diuretic dose"],
  neg=["no orthopnea or PND", "denies weight gain"],
  find=["echo EF {ef_lo}%", "lungs clear, no edema, JVP normal", "BNP 210, near baseline"],
  ax=["chronic HFrEF, compensated", "chronic systolic CHF, stable", "heart failure with reduced ejection fraction, chronic, euvolemic"],
  plan=["continue sacubitril/valsartan, carvedilol, spironolactone, dapagliflozin", "daily weights", "follow up 3 months"], age=(45, 90))
E("I50.23", cc=["more short of breath", "swelling and SOB"], setting="inpatient", conflicts=_HF_CONF,
  hpi=["known HFrEF (EF {ef_lo}%) admitted with 10 lb weight gain, orthopnea and worsening edema", "ran out of furosemide a week ago", "acute decompensation of chronic systolic heart failure"],
  neg=["no chest pain", "troponin flat"],
  find=["BNP {bnp}", "bibasilar crackles, JVP 12 cm, 3+ edema", "CXR: pulmonary vascular congestion"],
  ax=["acute on chronic HFrEF exacerbation", "decompensated chronic systolic CHF", "acute exacerbation of chronic systolic heart failure"],
  plan=["IV furosemide 40 mg BID", "strict I/O and daily weights", "resume GDMT once euvolemic"],
  vit=HYPOX, age=(45, 90))
E("I50.32", cc=["HFpEF follow-up", "heart failure check"], conflicts=_HF_CONF,
  hpi=["HFpEF with EF {ef_ok}%, stable, mild DOE at baseline", "diastolic dysfunction on echo, compensated", "weight stable on home scale"],
  neg=["no orthopnea", "denies edema increase"],
  find=["echo EF {ef_ok}%, grade II diastolic dysfunction", "lungs clear, trace edema", "BNP 180"],
  ax=["chronic HFpEF, compensated", "chronic diastolic CHF, stable", "heart failure with preserved EF, chronic"],
  plan=["continue empagliflozin and low-dose torsemide", "BP control", "follow up 3 months"], age=(55, 92))
E("I50.33", cc=["swelling and SOB", "worse breathing"], setting="inpatient", conflicts=_HF_CONF,
  hpi=["known HFpEF (EF {ef_ok}%) with 1 week of worsening DOE, orthopnea and edema after a salty holiday meal", "acute exacerbation of chronic diastolic failure", "weight up 8 lb"],
  neg=["no chest pain", "no fever"],
  find=["BNP {bnp}", "crackles to mid-lung fields, 2+ edema", "echo: EF {ef_ok}%, elevated filling pressures"],
  ax=["acute on chronic HFpEF", "acute exacerbation of chronic diastolic CHF", "decompensated heart failure with preserved EF"],
  plan=["IV diuresis", "sodium restriction", "daily weights, BMP daily"],
  vit=HYPOX, age=(55, 92))
E("I50.9", cc=["leg swelling", "SOB"], conflicts=_HF_CONF,
  hpi=["new DOE and ankle swelling for {dur}", "CHF suspected; echo not yet done", "orthopnea, sleeps on 2 pillows"],
  neg=["no chest pain", "denies fever"],
  find=["BNP {bnp}", "JVD, bibasilar crackles, 2+ pitting edema", "echo ordered"],
  ax=["congestive heart failure NOS, type not yet determined", "new CHF, EF pending", "heart failure, unclassified pending echo"],
  plan=["start furosemide 20 mg daily", "echocardiogram", "BMP in 1 week"], age=(50, 90))
E("I63.9", cc=["facial droop and weakness", "slurred speech"], setting="ed", age=(50, 90),
  hpi=["sudden left-sided weakness and slurred speech, last known well 5 hours ago", "MRI shows acute infarct; vessel and mechanism not yet determined", "outside the tPA window"],
  neg=["no hemorrhage on CT", "denies headache"],
  find=["NIHSS 6", "MRI DWI: acute ischemic infarct", "left facial droop, left arm drift"],
  ax=["acute ischemic stroke, etiology under evaluation", "stroke NOS (ischemic)", "acute brain infarction, mechanism pending"],
  plan=["admit to stroke unit", "aspirin, statin", "CTA head/neck, echo, telemetry", "PT/OT/SLP"])
E("I26.99", cc=["sudden SOB", "pleuritic chest pain"], setting="ed",
  hpi=["sudden pleuritic chest pain and SOB after a long flight", "CTA chest shows segmental filling defects", "no RV strain"],
  neg=["no syncope", "RV normal on echo"],
  find=["CTA: segmental PE right lower lobe", "troponin negative, BNP normal", "RV/LV ratio normal"],
  ax=["acute PE, no cor pulmonale", "pulmonary embolism without RV strain", "segmental pulmonary emboli, hemodynamically stable"],
  plan=["start apixaban", "outpatient management per sPESI 0", "3 months anticoagulation minimum"],
  vit=TACHY)
for _side, _code, _leg in (("right", "I82.401", "right leg"), ("left", "I82.402", "left leg")):
    E(_code, cc=["leg swelling", "calf pain"], conflicts=("I82",),
      ctx_leg=_leg,
      hpi=["swelling and pain in the {leg} for {dur} after knee surgery", "{leg} calf tender and tight", "sedentary after a long car trip, now with a swollen {leg}"],
      neg=["no SOB or chest pain", "denies hemoptysis"],
      find=["duplex: acute deep vein thrombosis of the {leg}, noncompressible deep veins", "calf circumference 3 cm larger on the {side} side", "Wells score 3"],
      ax=["acute DVT, {leg}", "acute deep venous thrombosis of the {leg}, vein not specified", "{side} lower extremity DVT, acute"],
      plan=["start rivaroxaban 15 mg BID x 21 days", "compression", "ambulate as tolerated"],
      ctx_side=_side)
for _side, _code, _leg in (("right", "I82.411", "right leg"), ("left", "I82.412", "left leg")):
    E(_code, cc=["thigh swelling", "leg pain"], conflicts=("I82",),
      ctx_leg=_leg, ctx_side=_side,
      hpi=["swelling of the whole {leg} for {dur}", "thigh pain after hip surgery"],
      neg=["no SOB", "denies chest pain"],
      find=["duplex: occlusive thrombus in the {side} femoral vein", "{leg} edema to the groin"],
      ax=["acute femoral vein DVT, {side}", "acute thrombosis of the {side} femoral vein"],
      plan=["start apixaban", "compression stockings", "follow-up duplex"])

# -- Chapter 10: respiratory --------------------------------------------------------------------

_ASTHMA = ("J45", "J44")
for _code, _sev, _state in (("J45.20", "mild intermittent", "well"), ("J45.21", "mild intermittent", "flare"), ("J45.30", "mild persistent", "well"),
                            ("J45.40", "moderate persistent", "well"), ("J45.41", "moderate persistent", "flare"), ("J45.50", "severe persistent", "well"),
                            ("J45.51", "severe persistent", "flare")):
    _sev_detail = {
        "mild intermittent": ["symptoms < 2 days/week, no night awakenings", "uses albuterol only a few times a month", "FEV1 > 80% predicted between episodes"],
        "mild persistent": ["symptoms > 2 days/week but not daily, night awakenings 3-4 times a month", "on low-dose inhaled steroid", "FEV1 82% predicted"],
        "moderate persistent": ["daily symptoms and night awakenings weekly", "on medium-dose ICS/LABA", "FEV1 68% predicted"],
        "severe persistent": ["symptoms throughout the day, nightly awakenings despite high-dose ICS/LABA", "on tiotropium and biologic therapy", "FEV1 52% predicted"],
    }[_sev]
    if _state == "well":
        E(_code, cc=["asthma follow-up", "asthma check"], conflicts=_ASTHMA, age=(18, 70),
          ctx_sev=_sev,
          hpi=["asthma, {sev}: " + _sev_detail[0], _sev_detail[1], "no ED visits or steroid bursts this year"],
          neg=["no current wheezing", "denies recent exacerbation", "no fever"],
          find=["lungs clear, no wheeze", "spirometry: " + _sev_detail[2], "ACT score 21"],
          ax=["{sev} asthma, stable, no exacerbation", "asthma, {sev}, currently controlled", "{sev} asthma without acute flare"],
          plan=["continue current controller", "albuterol PRN", "asthma action plan reviewed", "flu shot"])
    else:
        E(_code, cc=["wheezing and SOB", "asthma flare"], conflicts=_ASTHMA, age=(18, 70),
          ctx_sev=_sev,
          hpi=["known {sev} asthma (" + _sev_detail[0] + ") with 2 days of wheezing after a cold", "using albuterol every 3-4 hours", "night cough and chest tightness"],
          neg=["no fever", "denies chest pain"],
          find=["diffuse expiratory wheezes", "peak flow {peak}% of personal best", "SpO2 94% RA"],
          ax=["{sev} asthma with acute exacerbation", "acute flare of {sev} asthma", "asthma attack, baseline {sev}"],
          plan=["prednisone 40 mg x 5 days", "albuterol nebs in clinic", "step up controller", "return if worsening"],
          vit={"RR": (20, 26), "HR": (96, 116)})
E("J45.909", cc=["asthma refill", "inhaler refill"], conflicts=_ASTHMA,
  hpi=["history of asthma, severity not classified in records", "new patient, needs inhaler refill", "uses albuterol occasionally"],
  neg=["no current wheezing", "no recent flare"],
  find=["lungs clear", "spirometry not yet done"],
  ax=["asthma NOS, stable", "asthma, severity not yet classified, no flare", "reactive airway disease, quiescent"],
  plan=["albuterol refill", "spirometry", "classify severity at next visit"])
_COPD = ("J44", "J45", "J43")
E("J44.1", cc=["worse SOB and cough", "COPD flare"], setting="ed", conflicts=_COPD,
  hpi=["COPD with 3 days of increased dyspnea and sputum, change in sputum color", "no pneumonia on CXR", "using albuterol every 2 hours"],
  neg=["no fever", "CXR without infiltrate"],
  find=["diffuse wheezes and prolonged expiration", "CXR hyperinflation, no consolidation", "VBG pCO2 52"],
  ax=["AECOPD", "decompensated COPD", "COPD exacerbation, no pneumonia"],
  plan=["prednisone 40 mg x 5 days", "azithromycin", "DuoNebs q4h", "titrate O2 to 88-92%"],
  vit=HYPOX, age=(50, 88))
E("J44.0", cc=["cough, fever and SOB", "COPD with chest infection"], setting="inpatient", conflicts=_COPD,
  hpi=["COPD with fever, productive cough and worsening dyspnea", "acute bronchitis on top of COPD", "sputum purulent"],
  neg=["no hemoptysis", "denies chest pain"],
  find=["rhonchi and wheeze", "WBC {wbc}", "CXR: no consolidation, bronchial wall thickening"],
  ax=["COPD with acute lower respiratory infection (bronchitis)", "chronic obstructive lung disease with acute bronchitis", "COPD complicated by acute lower respiratory tract infection"],
  plan=["doxycycline x 5 days", "nebs", "steroids", "O2 titration"],
  sec=[("J20.9", "", "")], vit=FEVER, age=(50, 88))
E("J44.9", cc=["COPD follow-up", "breathing check"], conflicts=_COPD,
  hpi=["COPD GOLD 2, stable, on LAMA", "no exacerbations in a year", "mild exertional dyspnea at baseline"],
  neg=["no recent flare", "no change in sputum"],
  find=["FEV1/FVC 0.62, FEV1 65%", "mildly diminished breath sounds", "SpO2 95%"],
  ax=["COPD, stable", "chronic obstructive airway disease, no exacerbation", "chronic obstructive lung disease NOS"],
  plan=["continue tiotropium", "pulmonary rehab", "vaccines up to date"], age=(50, 88))
E("J18.9", cc=["cough and fever", "productive cough"],
  hpi=["productive cough, fever and pleuritic chest pain for {dur}", "sputum culture not obtained", "community-acquired"],
  neg=["no hemoptysis", "denies recent hospitalization"],
  find=["crackles at the right base", "CXR: right lower lobe consolidation", "WBC {wbc}"],
  ax=["community-acquired pneumonia, organism not identified", "RLL CAP", "lobar pneumonia, pathogen unknown"],
  plan=["amoxicillin-clavulanate plus azithromycin", "CURB-65 1, outpatient", "recheck 48 h"],
  vit=FEVER)
E("J13", cc=["fever, cough", "pneumonia"], setting="inpatient",
  hpi=["fever, rigors and rust-colored sputum", "urine pneumococcal antigen positive", "blood cultures with gram-positive diplococci, S. pneumoniae"],
  neg=["no empyema on ultrasound", "denies aspiration"],
  find=["consolidation of the left lower lobe", "pneumococcal urinary antigen positive", "WBC {wbc}"],
  ax=["pneumococcal pneumonia", "Streptococcus pneumoniae lobar pneumonia", "LLL pneumonia due to pneumococcus"],
  plan=["ceftriaxone", "narrow to penicillin per sensitivities", "pneumococcal vaccine after recovery"],
  vit=FEVER)
E("J02.0", cc=["sore throat and fever", "throat pain"], age=(18, 50),
  hpi=["sore throat, fever and painful swallowing for {dur}", "no cough or runny nose", "Centor 4"],
  neg=["no cough", "no trismus or drooling"],
  find=["rapid strep antigen positive", "tonsillar exudates and tender anterior cervical nodes", "no peritonsillar bulge"],
  ax=["strep throat", "group A strep tonsillopharyngitis", "streptococcal sore throat"],
  plan=["amoxicillin 500 mg BID x 10 days", "ibuprofen", "school/work note"],
  vit={"T": (38.2, 39.3)})
E("J02.9", cc=["sore throat", "scratchy throat"],
  hpi=["sore throat with runny nose and mild cough for {dur}", "sick contacts at home", "Centor 1"],
  neg=["no exudates", "no drooling or trismus"],
  find=["rapid strep negative", "mild pharyngeal erythema without exudate", "no lymphadenopathy"],
  ax=["acute pharyngitis, likely viral", "viral sore throat", "pharyngitis, acute"],
  plan=["salt water gargles", "acetaminophen", "no antibiotics indicated"])
E("J01.00", cc=["sinus pressure", "facial pain"],
  hpi=["facial pain over the cheeks and purulent nasal discharge for 12 days", "worsening after initial improvement from a cold", "upper tooth pain"],
  neg=["no vision changes", "no periorbital swelling"],
  find=["tenderness over the maxillary sinuses", "purulent drainage in the nares", "no orbital signs"],
  ax=["acute maxillary sinusitis", "acute bacterial sinusitis, maxillary", "maxillary sinus infection, acute"],
  plan=["amoxicillin-clavulanate x 7 days", "saline irrigation", "intranasal steroid"])
E("J01.90", cc=["congestion", "sinus infection"],
  hpi=["nasal congestion and facial pressure for {dur}", "pressure everywhere, can't localize", "thick nasal discharge"],
  neg=["no fever", "no orbital symptoms"],
  find=["boggy turbinates, purulent discharge", "no sinus tenderness localized", "no orbital findings"],
  ax=["acute sinusitis, site not localized", "acute rhinosinusitis", "acute sinus infection"],
  plan=["saline rinses", "fluticasone spray", "antibiotics if > 10 days"])
E("J06.9", cc=["cold symptoms", "runny nose and cough"],
  hpi=["runny nose, sneezing, mild cough and sore throat for {dur}", "kids have colds", "symptoms improving"],
  neg=["no SOB", "no fever > 101", "denies ear pain"],
  find=["clear rhinorrhea", "lungs clear", "TMs normal"],
  ax=["URI", "common cold (viral URI)", "upper respiratory infection, viral"],
  plan=["supportive care", "honey for cough", "return if worsening after 10 days"])
E("J20.9", cc=["cough", "chest cold"],
  hpi=["cough productive of clear sputum for {dur} after a cold", "chest soreness with coughing", "no SOB"],
  neg=["no fever", "no hemoptysis"],
  find=["scattered rhonchi clearing with cough", "no crackles", "CXR clear"],
  ax=["acute bronchitis, likely viral", "chest cold (bronchitis)", "bronchitis, acute"],
  plan=["no antibiotics", "benzonatate PRN", "return if fever or SOB"])

# -- Chapter 11: digestive ----------------------------------------------------------------------

E("K21.9", cc=["heartburn", "acid reflux"], conflicts=("K21",),
  hpi=["burning retrosternal pain after meals and at night for {cdur}", "regurgitation of sour fluid", "better with antacids"],
  neg=["no dysphagia", "denies weight loss or GI bleeding"],
  find=["abdomen soft, nontender", "EGD last year: normal esophageal mucosa"],
  ax=["GERD, no esophagitis", "esophageal reflux NOS", "reflux disease, nonerosive"],
  plan=["omeprazole 20 mg daily before breakfast", "avoid late meals", "elevate head of bed"])
E("K21.00", cc=["heartburn, EGD results", "reflux follow-up"], conflicts=("K21",),
  hpi=["chronic heartburn; EGD showed LA grade B erosive esophagitis", "no bleeding on EGD", "regurgitation nightly"],
  neg=["no melena", "no hematemesis"],
  find=["EGD: erosions in the distal esophagus, no bleeding", "biopsy negative for Barrett's", "Hgb normal"],
  ax=["reflux esophagitis, LA grade B, no bleeding", "erosive GERD without hemorrhage", "GERD complicated by esophagitis, nonbleeding"],
  plan=["omeprazole 40 mg BID x 8 weeks", "repeat EGD", "weight loss"])
E("K35.80", cc=["abdominal pain", "right lower abdominal pain"], setting="ed", conflicts=("K35", "R10"),
  hpi=["periumbilical pain migrating to the RLQ over 12 hours with anorexia and nausea", "pain with walking", "CT confirms the diagnosis"],
  neg=["no perforation or abscess on CT", "no peritonitis"],
  find=["McBurney point tenderness, no rigidity", "CT: dilated appendix 11 mm with periappendiceal fat stranding", "WBC {wbc}"],
  ax=["acute appendicitis without perforation or peritonitis", "acute appendicitis NOS", "uncomplicated appendicitis"],
  plan=["surgery consult for laparoscopic appendectomy", "IV cefoxitin", "NPO"],
  vit={"T": (37.8, 38.6)})
E("K80.20", cc=["gallstones on ultrasound", "intermittent RUQ pain"], conflicts=("K80", "K81", "R10"),
  hpi=["postprandial RUQ discomfort episodes, resolved", "ultrasound for abnormal LFTs found gallstones", "no current pain"],
  neg=["no fever or jaundice", "Murphy sign negative"],
  find=["US: multiple gallstones, no wall thickening or pericholecystic fluid", "CBD 4 mm", "LFTs normal"],
  ax=["cholelithiasis, no cholecystitis, no obstruction", "gallstones, uncomplicated", "symptomatic cholelithiasis (biliary colic), no inflammation"],
  plan=["elective cholecystectomy referral", "low-fat diet"])
E("K80.00", cc=["RUQ pain and fever", "abdominal pain after eating"], setting="ed", conflicts=("K80", "K81", "R10"),
  hpi=["constant RUQ pain for 18 hours after a fatty meal with fever and vomiting", "positive Murphy sign", "gallstone impacted in the neck of the gallbladder"],
  neg=["no jaundice", "CBD not dilated"],
  find=["US: gallstones, wall thickening 6 mm, pericholecystic fluid, sonographic Murphy", "WBC {wbc}", "bilirubin normal"],
  ax=["acute calculous cholecystitis", "acute cholecystitis with gallstones, no biliary obstruction", "calculous cholecystitis, acute"],
  plan=["IV piperacillin-tazobactam", "surgery for cholecystectomy this admission", "NPO, IV fluids"],
  vit=FEVER)
E("K57.30", cc=["colonoscopy follow-up", "diverticula"], conflicts=("K57",),
  hpi=["screening colonoscopy found many sigmoid diverticula", "no history of diverticulitis", "occasional bloating"],
  neg=["no bleeding", "no abdominal pain"],
  find=["colonoscopy: extensive sigmoid diverticula, no inflammation", "Hgb normal"],
  ax=["diverticulosis of the colon, uncomplicated", "diverticular disease of colon NOS", "sigmoid diverticulosis, no bleeding"],
  plan=["high-fiber diet", "no further workup", "repeat colonoscopy 10 years"])
E("K57.32", cc=["LLQ pain and fever", "lower abdominal pain"], conflicts=("K57", "R10"),
  hpi=["LLQ pain for {dur} with low-grade fever and change in bowel habits", "CT shows sigmoid inflammation", "tolerating liquids"],
  neg=["no abscess or free air on CT", "no rectal bleeding"],
  find=["LLQ tenderness, no peritoneal signs", "CT: sigmoid diverticular inflammation, no abscess, no perforation", "WBC {wbc}"],
  ax=["acute sigmoid diverticulitis, uncomplicated", "diverticulitis of the colon, no abscess, no bleeding", "uncomplicated diverticulitis"],
  plan=["clear liquids, advance diet", "amoxicillin-clavulanate x 7 days", "colonoscopy in 6-8 weeks"],
  vit={"T": (37.8, 38.6)})
_PANC = ("K85", "K86", "R10")
E("K85.90", cc=["epigastric pain radiating to the back", "abdominal pain and vomiting"], setting="inpatient", conflicts=_PANC,
  hpi=["severe epigastric pain radiating to the back with vomiting", "no gallstones on US and minimal alcohol use; etiology unclear", "TG normal"],
  neg=["no necrosis on CT", "no fever"],
  find=["lipase {lipase}", "CT: peripancreatic stranding, no necrosis or collections", "US: no gallstones"],
  ax=["acute pancreatitis, idiopathic, interstitial", "acute pancreatitis of unclear cause, no necrosis", "acute interstitial pancreatitis, etiology undetermined"],
  plan=["aggressive IV fluids", "pain control", "advance diet as tolerated", "MRCP to look for microlithiasis"])
E("K85.10", cc=["epigastric pain and vomiting", "abdominal pain"], setting="inpatient", conflicts=_PANC + ("K80",),
  hpi=["severe epigastric pain to the back after a fatty meal", "US shows gallstones and sludge with mildly dilated CBD", "ALT 3x normal at presentation"],
  neg=["no necrosis on CT", "no cholangitis"],
  find=["lipase {lipase}, ALT 320", "US: cholelithiasis, CBD 8 mm", "CT: edematous pancreas without necrosis"],
  ax=["gallstone pancreatitis, no necrosis or infection", "acute biliary pancreatitis, interstitial", "gallstone-induced acute pancreatitis"],
  plan=["IV fluids", "ERCP if worsening LFTs", "cholecystectomy before discharge"])
E("K85.20", cc=["abdominal pain after drinking", "epigastric pain"], setting="inpatient", conflicts=_PANC + ("F10",),
  hpi=["heavy daily drinker with epigastric pain radiating to the back after a binge", "no gallstones on US", "second episode this year"],
  neg=["no necrosis", "no signs of withdrawal currently"],
  find=["lipase {lipase}", "US: no gallstones", "CT: interstitial edematous pancreatitis"],
  ax=["acute alcoholic pancreatitis, interstitial", "ethanol-related acute pancreatitis, no necrosis", "alcohol-related acute pancreatitis"],
  plan=["IV fluids, pain control", "CIWA protocol", "alcohol cessation counseling"],
  sec=[("F10.20", "", "")])
E("K59.00", cc=["constipation", "hard stools"],
  hpi=["2 bowel movements a week, hard and straining for {cdur}", "low fiber diet and little water", "no red flags"],
  neg=["no blood in stool", "no weight loss"],
  find=["abdomen soft, mild LLQ fullness", "stool in the rectal vault", "TSH normal"],
  ax=["chronic functional constipation", "constipation, not further specified", "slow stool transit, likely dietary"],
  plan=["fiber 25 g/day, fluids", "polyethylene glycol daily", "follow up 6 weeks"])
E("K92.2", cc=["black stools", "dark stool"], setting="ed",
  hpi=["black tarry stools for 2 days and lightheadedness", "on ibuprofen for back pain", "EGD pending to find a source"],
  neg=["no hematemesis", "denies abdominal pain"],
  find=["melena on rectal exam", "Hgb {hgb_lo} from baseline 13", "BUN 42"],
  ax=["GI bleed, source not yet identified", "upper vs lower GI bleed, undetermined source", "gastrointestinal bleeding NOS"],
  plan=["two large-bore IVs, type and cross", "pantoprazole drip", "GI for endoscopy", "hold NSAIDs"],
  vit=TACHY)
E("K29.70", cc=["stomach pain", "upper abdominal burning"], conflicts=("K29", "R10"),
  hpi=["upper abdominal burning with meals, using NSAIDs daily", "EGD showed gastric mucosal erythema", "H. pylori biopsy negative"],
  neg=["no bleeding", "no melena"],
  find=["EGD: diffuse gastric erythema, no ulcer, no bleeding", "Hgb normal"],
  ax=["gastritis, nonbleeding, NSAID-associated", "stomach lining inflammation, no hemorrhage", "NSAID gastritis"],
  plan=["stop NSAIDs", "PPI x 8 weeks", "avoid alcohol"])

# -- Chapter 12: skin ---------------------------------------------------------------------------

for _side, _code, _leg in (("right", "L03.115", "right lower leg"), ("left", "L03.116", "left lower leg")):
    E(_code, cc=["red swollen leg", "leg redness and pain"], conflicts=("L03",),
      ctx_leg=_leg, ctx_side=_side,
      hpi=["spreading redness, warmth and pain of the {leg} for {dur}", "small scratch on the {leg} last week", "redness has spread past the line drawn yesterday"],
      neg=["no abscess or fluctuance", "duplex negative for DVT"],
      find=["erythema, warmth and tenderness over the {leg}, no fluctuance", "borders marked", "US: no abscess"],
      ax=["cellulitis, {leg}", "nonpurulent cellulitis of the {side} leg", "{side} lower extremity cellulitis"],
      plan=["cephalexin 500 mg QID x 7 days", "elevate the {side} leg", "recheck in 48 h"],
      vit={"T": (37.6, 38.7)})
E("L03.011", cc=["swollen finger", "finger infection"], conflicts=("L03",),
  hpi=["red, painful right index finger after a cut", "swelling spreading along the finger"],
  neg=["no fluctuance", "no flexor tenosynovitis signs"],
  find=["erythema and swelling of the right index finger, no pus", "no Kanavel signs"],
  ax=["cellulitis of the right index finger", "right finger soft-tissue infection"],
  plan=["cephalexin", "warm soaks", "recheck 48 h"])
E("L40.0", cc=["scaly rash", "patches on elbows"],
  hpi=["thick scaly plaques on elbows, knees and scalp for {cdur}", "worse in winter", "father has the same condition"],
  neg=["no joint pain", "no nail pitting"],
  find=["well-demarcated erythematous plaques with silvery scale on extensor surfaces, 6% BSA", "Auspitz sign"],
  ax=["plaque psoriasis", "chronic plaque-type psoriasis", "psoriasis, plaque type"],
  plan=["clobetasol ointment BID", "calcipotriene", "derm referral for phototherapy"])
E("L20.9", cc=["itchy rash", "eczema flare"],
  hpi=["itchy dry patches in the elbow and knee creases since childhood", "flares in winter", "asthma and hay fever in the family"],
  neg=["no weeping or crusting", "no fever"],
  find=["lichenified patches in the antecubital and popliteal fossae", "xerosis"],
  ax=["atopic eczema", "eczema (atopic), flare", "atopic skin disease"],
  plan=["triamcinolone 0.1% ointment BID x 2 weeks", "daily emollients", "gentle soaps"])
for _code, _stage, _depth in (("L89.152", "2", "partial-thickness wound with intact blister base, dermis exposed"),
                              ("L89.153", "3", "full-thickness wound with visible subcutaneous fat, no bone or tendon"),
                              ("L89.154", "4", "full-thickness wound with exposed bone at the base")):
    E(_code, cc=["sacral wound", "bedsore"], age=(65, 95), conflicts=("L89",),
      ctx_stage=_stage, ctx_depth=_depth,
      hpi=["bedbound nursing home resident with a wound over the sacrum", "wound nurse stages it as stage {stage}", "incontinent, poor intake"],
      neg=["no fever", "no purulent drainage"],
      find=["sacral ulcer, {depth}", "3 x 4 cm sacral wound, stage {stage}", "surrounding skin intact"],
      ax=["stage {stage} pressure injury of the sacrum", "sacral decubitus ulcer, stage {stage}", "pressure sore over the sacrum, stage {stage}"],
      plan=["turn q2h, pressure-redistributing mattress", "wound care per WOC nurse", "nutrition consult"])

# -- Chapter 13: musculoskeletal ------------------------------------------------------------------

for _side, _code, _knee in (("right", "M17.11", "right knee"), ("left", "M17.12", "left knee"), ("bilateral", "M17.0", "both knees")):
    E(_code, cc=["knee pain", "knee stiffness"], age=(50, 88), conflicts=("M17",),
      ctx_knee=_knee,
      hpi=["gradual aching of the {knee} worse with stairs, morning stiffness < 30 min", "pain in the {knee} for {cdur}, worse at the end of the day", "no injury; {knee} gives way occasionally"],
      neg=["no swelling or warmth", "denies locking", "no trauma"],
      find=["{knee}: crepitus and medial joint line tenderness, no effusion", "x-ray: medial joint space narrowing and osteophytes, {knee}", "ROM reduced in the {knee}"],
      ax=["degenerative joint disease of the {knee}", "primary OA, {knee}", "osteoarthritis of the {knee}, primary"],
      plan=["PT for quad strengthening", "topical diclofenac", "steroid injection to the {knee} offered", "weight loss"])
for _side, _code, _hip in (("right", "M16.11", "right hip"), ("left", "M16.12", "left hip")):
    E(_code, cc=["hip pain", "groin pain"], age=(50, 88), conflicts=("M16",),
      ctx_hip=_hip,
      hpi=["pain in the {hip} radiating to the groin for {cdur}", "trouble putting on socks on the {hip} side", "limping because of the {hip}"],
      neg=["no trauma", "no back pain radiating down the leg"],
      find=["painful internal rotation of the {hip}", "x-ray: joint space narrowing and osteophytes, {hip}", "antalgic gait"],
      ax=["primary OA of the {hip}", "degenerative arthritis, {hip}", "osteoarthritis, {hip}"],
      plan=["PT", "acetaminophen and meloxicam", "orthopedics referral for arthroplasty discussion"])
E("M10.9", cc=["painful swollen toe", "gout flare"], conflicts=("M10", "M1A"),
  hpi=["sudden severe pain and redness in a toe overnight", "previous similar attacks", "drank beer at a party"],
  neg=["no fever", "no trauma"],
  find=["uric acid 9.1", "red, hot, swollen first MTP", "no joint aspiration performed"],
  ax=["acute gout flare, joint not documented", "gouty arthritis", "gout attack"],
  plan=["colchicine", "ice and rest", "allopurinol after flare resolves"], sex="M")
E("M10.071", cc=["ankle pain and swelling", "foot swelling"], conflicts=("M10", "M1A"),
  hpi=["acute swelling and pain of the right ankle and midfoot overnight", "prior podagra on the right", "on HCTZ"],
  neg=["no trauma", "no fever"],
  find=["right ankle warm, swollen, exquisitely tender", "aspirate: negatively birefringent needle crystals", "uric acid 9.4"],
  ax=["acute idiopathic gouty arthritis, right ankle/foot", "crystal-proven primary gout, right ankle", "right foot and ankle gout flare"],
  plan=["prednisone 40 mg x 5 days", "stop HCTZ", "start allopurinol later"])
E("M54.50", cc=["low back pain", "back pain"], conflicts=("M54", "M51"),
  hpi=["low back ache after lifting boxes {dur} ago", "pain stays in the low back without radiation", "improving with rest"],
  neg=["no leg numbness or weakness", "no bowel or bladder changes", "no saddle anesthesia"],
  find=["paraspinal tenderness L4-5", "negative straight leg raise bilaterally", "normal strength and reflexes"],
  ax=["acute lumbago", "mechanical low back ache, no radiculopathy", "lumbar strain / loin pain"],
  plan=["NSAIDs, heat", "stay active", "PT if not better in 4 weeks"])
E("M54.16", cc=["back pain down the leg", "sciatica"], conflicts=("M54", "M51"),
  hpi=["low back pain radiating down the back of the leg to the foot for {dur}", "numbness on the outer foot", "worse with sitting"],
  neg=["no saddle anesthesia", "no bowel or bladder changes"],
  find=["positive straight leg raise at 40 degrees", "diminished ankle reflex, decreased sensation in S1 distribution", "strength 5/5"],
  ax=["lumbar radiculopathy (L5-S1)", "sciatica with radicular symptoms, lumbar", "lumbosacral nerve root irritation"],
  plan=["prednisone taper", "PT", "MRI if no improvement in 6 weeks"])
E("M54.2", cc=["neck pain", "stiff neck"], conflicts=("M54", "M50"),
  hpi=["neck pain and stiffness after sleeping awkwardly", "pain without arm radiation", "desk job"],
  neg=["no arm numbness or weakness", "no trauma"],
  find=["paraspinal and trapezius tenderness", "reduced rotation", "Spurling negative"],
  ax=["neck pain, mechanical", "cervical strain", "nonradicular neck pain"],
  plan=["NSAIDs", "heat", "PT"])
E("M81.0", cc=["bone density results", "osteoporosis"], sex="F", age=(55, 90), conflicts=("M80", "M81"),
  hpi=["DEXA with T-score -2.8 at the lumbar spine", "postmenopausal, no fractures", "height loss of 1 inch"],
  neg=["no fragility fractures", "no back pain"],
  find=["DEXA T-score -2.8 spine, -2.4 femoral neck", "vitamin D normal", "calcium normal"],
  ax=["postmenopausal osteoporosis, no fracture", "senile bone loss without fracture", "osteoporosis NOS"],
  plan=["alendronate 70 mg weekly", "calcium and vitamin D", "fall prevention", "repeat DEXA 2 years"])
E("M06.9", cc=["joint pain and stiffness", "RA follow-up"], conflicts=("M05", "M06"),
  hpi=["symmetric pain and swelling of the MCPs and wrists with 1 hour of morning stiffness", "RF and anti-CCP positive", "on methotrexate"],
  neg=["no rash", "denies dry eyes"],
  find=["synovitis of the MCPs bilaterally", "ESR 42, CRP 18", "x-ray: periarticular osteopenia"],
  ax=["rheumatoid arthritis", "seropositive RA, active", "inflammatory polyarthritis (RA)"],
  plan=["increase methotrexate", "folic acid", "rheumatology follow-up"])

# -- Chapter 14: genitourinary ------------------------------------------------------------------

_CKD_CONF = ("N18", "I12", "I13", "E11", "E10", "I10")
for _code, _stage, _egfr in (("N18.30", "3", "{egfr3}"), ("N18.31", "3a", "{egfr3a}"), ("N18.32", "3b", "{egfr3b}"), ("N18.4", "4", "{egfr4}")):
    E(_code, cc=["kidney function", "CKD follow-up"], conflicts=_CKD_CONF, age=(50, 90),
      ctx_stage=_stage, ctx_egfr=_egfr,
      hpi=["CKD stage {stage} from prior glomerulonephritis, eGFR {egfr}", "kidney function stable over the past year", "no diabetes; BP normal without meds"],
      neg=["no edema", "denies urinary symptoms"],
      find=["eGFR {egfr}, stable", "UACR 120", "renal US: small kidneys"],
      ax=["CKD stage {stage}, non-diabetic, stable", "stage {stage} CKD from old GN", "chronic renal insufficiency, stage {stage}"],
      plan=["avoid nephrotoxins", "SGLT2 inhibitor", "nephrology follow-up", "BMP 3 months"])
E("N18.6", cc=["dialysis patient", "ESRD follow-up"], conflicts=_CKD_CONF,
  hpi=["ESRD on hemodialysis MWF via left arm fistula", "dialysis-dependent kidney failure from polycystic kidneys", "dry weight stable"],
  neg=["no fistula problems", "no SOB"],
  find=["fistula with good thrill and bruit", "Hgb 10.8 on ESA", "K 5.1"],
  ax=["end stage kidney disease on HD", "chronic kidney disease requiring chronic dialysis", "ESKD on maintenance hemodialysis"],
  plan=["continue HD", "phosphate binders", "transplant evaluation"],
  sec=[("Z99.2", "", "")])
_UTI = ("N39", "N30", "N10", "N34", "R30")
E("N39.0", cc=["burning urination", "urinary symptoms"], conflicts=_UTI,
  hpi=["burning urination and urgency for {dur}", "site of infection unclear", "older adult with foul-smelling urine and mild confusion"],
  neg=["no flank pain", "no fever"],
  find=["{ua}", "urine culture pending", "no CVA tenderness"],
  ax=["UTI, site not determined", "urinary infection NOS", "bacteriuria with symptoms (UTI)"],
  plan=["nitrofurantoin x 5 days", "follow culture", "fluids"])
E("N30.00", cc=["painful urination", "frequency and urgency"], sex="F", conflicts=_UTI,
  hpi=["dysuria, frequency and suprapubic pressure for {dur}", "no blood in the urine", "similar episode last year"],
  neg=["no hematuria", "no fever or flank pain", "no vaginal discharge"],
  find=["{ua}, no blood on dipstick", "suprapubic tenderness", "no CVA tenderness"],
  ax=["acute bladder infection, no hematuria", "acute cystitis, uncomplicated, non-hemorrhagic", "simple bladder infection without blood in urine"],
  plan=["nitrofurantoin 100 mg BID x 5 days", "fluids", "return if fever or flank pain"])
E("N30.01", cc=["blood in urine and burning", "painful urination"], sex="F", conflicts=_UTI,
  hpi=["dysuria and urgency for {dur}, now with visible pink urine", "suprapubic pain", "no fever"],
  neg=["no flank pain", "no fever"],
  find=["UA: large blood, positive nitrites and LE", "suprapubic tenderness", "no CVA tenderness"],
  ax=["hemorrhagic cystitis, acute, bacterial", "acute bladder infection with gross hematuria", "acute cystitis complicated by blood in the urine"],
  plan=["cephalexin x 7 days", "repeat UA after treatment to confirm hematuria resolved"])
E("N10", cc=["fever and flank pain", "back pain and burning"], conflicts=_UTI,
  hpi=["fever, rigors, right flank pain and dysuria for {dur}", "nausea", "UTI symptoms preceded the fever"],
  neg=["no stones on CT", "no pregnancy"],
  find=["right CVA tenderness", "{ua}", "WBC {wbc}"],
  ax=["pyelonephritis, right, acute", "acute pyelitis / upper urinary tract infection", "kidney infection (pyelonephritis)"],
  plan=["ceftriaxone then oral ciprofloxacin x 7 days", "urine culture", "return if vomiting"],
  vit=FEVER)
E("N17.9", cc=["abnormal kidney labs", "poor intake and weakness"], setting="inpatient",
  hpi=["creatinine rose from baseline {cr_base} to {cr_hi} after a week of vomiting and poor intake", "on lisinopril and ibuprofen", "urine output decreased"],
  neg=["no hydronephrosis on US", "no rash"],
  find=["creatinine {cr_hi} (baseline {cr_base})", "FENa < 1%", "renal US normal"],
  ax=["AKI, prerenal", "acute kidney injury (nontraumatic)", "acute renal failure from volume depletion"],
  plan=["IV fluids", "hold ACE inhibitor and NSAIDs", "trend creatinine daily"])
E("N40.1", cc=["frequent urination at night", "weak stream"], sex="M", age=(50, 88), conflicts=("N40",),
  hpi=["nocturia 3-4 times, weak stream, hesitancy for {cdur}", "IPSS 19", "PSA normal"],
  neg=["no hematuria", "no retention"],
  find=["enlarged smooth nontender prostate on DRE", "post-void residual 90 mL", "UA normal"],
  ax=["BPH with LUTS", "enlarged prostate with obstructive voiding symptoms", "benign prostate enlargement with urinary symptoms"],
  plan=["tamsulosin 0.4 mg nightly", "add finasteride", "limit evening fluids"])
E("N40.0", cc=["prostate enlarged on exam", "annual exam finding"], sex="M", age=(50, 88), conflicts=("N40",),
  hpi=["enlarged prostate found on routine DRE", "no urinary complaints", "IPSS 3"],
  neg=["no nocturia", "denies weak stream"],
  find=["smooth enlarged prostate, no nodules", "PSA 2.1"],
  ax=["benign prostatic enlargement, asymptomatic", "enlarged prostate NOS, no urinary symptoms", "BPH, asymptomatic"],
  plan=["observation", "recheck yearly"])
E("N20.0", cc=["flank pain", "kidney stone"], setting="ed", conflicts=("N20", "N13"),
  hpi=["intermittent right flank pain", "CT shows a nonobstructing stone in the kidney", "no ureteral stone"],
  neg=["no hydronephrosis", "no fever"],
  find=["CT: {mm} mm stone in the lower pole of the right kidney, no hydro", "UA: microscopic hematuria"],
  ax=["nephrolithiasis, right kidney", "renal stone, nonobstructing", "kidney stone (renal calculus)"],
  plan=["fluids", "urology follow-up", "stone analysis if passed"])
E("N20.1", cc=["severe flank pain", "renal colic"], setting="ed", conflicts=("N20", "N13"),
  hpi=["sudden severe colicky left flank pain radiating to the groin with vomiting", "CT shows a stone in the distal ureter", "first episode"],
  neg=["no fever", "no solitary kidney"],
  find=["CT: {mm} mm left distal ureteral stone with mild hydronephrosis", "UA: blood, no nitrites", "creatinine normal"],
  ax=["ureterolithiasis, left distal", "ureteric stone with renal colic", "distal ureteral stone"],
  plan=["tamsulosin for expulsion", "ketorolac", "strain urine", "urology if not passed in 4 weeks"])

# -- Chapter 15: pregnancy ----------------------------------------------------------------------

for _code, _how in (("O24.410", "diet"), ("O24.414", "insulin")):
    E(_code, cc=["prenatal visit", "gestational diabetes follow-up"], sex="F", age=(22, 42), conflicts=("O24", "E10", "E11", "Z79"),
      ctx_how=_how,
      hpi=["G2P1 at {ga} weeks with failed 3-hour GTT", "sugar log reviewed; fasting and post-prandial readings" + (" at goal with diet alone" if _how == "diet" else " above goal despite diet, now on insulin"),
           "no pre-pregnancy diabetes" + (", managed by nutrition therapy only" if _how == "diet" else ", started NPH insulin 2 weeks ago")],
      neg=["no headaches or visual changes", "good fetal movement"],
      find=["fundal height appropriate", "no edema", "fetal heart tones 140s", "urine protein negative"],
      ax=["GDM A1, diet-managed" if _how == "diet" else "GDM A2, requiring insulin",
          "gestational diabetes managed with " + ("diet and exercise" if _how == "diet" else "insulin therapy")],
      plan=["continue glucose log", "growth ultrasound at 32 weeks", "postpartum 75 g OGTT"] + (["increase NPH dose"] if _how == "insulin" else ["nutrition follow-up"]),
      sec=[("Z3A.{ga}", "", "")])

# -- Chapter 18: symptoms and findings -----------------------------------------------------------

E("R07.9", cc=["chest pain", "chest discomfort"], setting="ed", conflicts=("R07", "I20", "I21"),
  hpi=["vague chest discomfort for {hdur}, not exertional, not pleuritic", "workup negative so far", "no clear cause identified"],
  neg=["troponin negative x2", "EKG normal", "denies SOB"],
  find=["troponin negative x2", "EKG NSR without ischemic changes", "CXR normal"],
  ax=["chest discomfort, etiology unclear, ACS ruled out", "noncardiac-appearing chest pain, cause undetermined", "chest pain NOS"],
  plan=["outpatient stress test", "return for recurrent pain", "PCP follow-up"])
E("R07.89", cc=["chest wall pain", "pain in the chest when pressing"], conflicts=("R07", "I20", "I21"),
  hpi=["sharp anterior chest pain reproducible with palpation after moving furniture", "worse with twisting", "no exertional pattern"],
  neg=["no SOB", "EKG normal"],
  find=["point tenderness over the 4th costochondral junction", "EKG normal", "troponin negative"],
  ax=["anterior chest-wall pain, musculoskeletal", "costochondral chest wall pain", "musculoskeletal chest wall pain"],
  plan=["NSAIDs", "heat", "return for exertional symptoms"])
for _code, _q, _desc in (("R10.31", "RLQ", "right lower quadrant"), ("R10.32", "LLQ", "left lower quadrant"), ("R10.11", "RUQ", "right upper quadrant")):
    E(_code, cc=["abdominal pain", "belly pain"], conflicts=("R10", "K35", "K57", "K80", "K81"),
      ctx_q=_q,
      hpi=["intermittent {q} abdominal pain for {dur}", "{q} tenderness without fever", "pain localized to the {q}, cause not yet found"],
      neg=["no fever", "denies vomiting", "no blood in stool"],
      find=["mild {q} tenderness, no rebound or guarding", "CT abdomen/pelvis unremarkable", "labs normal"],
      ax=["{q} abdominal pain, etiology unclear", "abdominal pain localized to the {q}, workup negative", "{q} pain NOS"],
      plan=["return precautions", "follow-up in 1 week", "ultrasound if persists"])
E("R10.13", cc=["upper stomach pain", "indigestion"], conflicts=("R10", "K21", "K29", "K85"),
  hpi=["burning pain in the epigastrium after meals for {dur}", "early satiety and bloating", "no GERD history"],
  neg=["no melena", "no weight loss", "lipase normal"],
  find=["epigastric tenderness without guarding", "lipase normal, LFTs normal", "H. pylori stool antigen pending"],
  ax=["dyspepsia", "epigastric discomfort, cause not yet established", "upper abdominal (epigastric) pain NOS"],
  plan=["PPI trial", "H. pylori test-and-treat", "EGD if alarm features"])
E("R55", cc=["passed out", "fainting episode"], setting="ed",
  hpi=["brief loss of consciousness while standing in line, quick full recovery", "prodrome of lightheadedness and warmth", "no injury"],
  neg=["no chest pain or palpitations", "no tongue biting or incontinence"],
  find=["orthostatic vitals negative", "EKG NSR, normal intervals", "glucose normal"],
  ax=["vasovagal attack", "fainting spell, likely reflex", "transient loss of consciousness, probable vasovagal"],
  plan=["hydration", "counter-pressure maneuvers", "outpatient Holter if recurs"])
E("R50.9", cc=["fever", "fevers at home"],
  hpi=["fever to {tf} F for {dur} without localizing symptoms", "no cough, urinary or GI symptoms", "no sick contacts"],
  neg=["no rash", "no neck stiffness"],
  find=["no source on exam", "UA and CXR normal", "CBC unremarkable"],
  ax=["febrile illness without source", "fever NOS", "fever with chills, source not found"],
  plan=["antipyretics", "blood cultures if persists", "return precautions"],
  vit={"T": (38.1, 39.2)})
E("R51.9", cc=["headache", "head pain"], conflicts=("R51", "G43", "G44"),
  hpi=["new headache for {dur}, nonspecific features", "no migraine features, no aura", "headache not classifiable yet"],
  neg=["no neuro deficits", "no fever or neck stiffness", "denies worst headache of life"],
  find=["normal neuro exam", "fundi normal", "BP normal"],
  ax=["headache NOS", "cephalgia, nonspecific", "head pain, cause undetermined"],
  plan=["acetaminophen", "headache diary", "return precautions"])
E("R42", cc=["dizziness", "lightheaded"],
  hpi=["lightheaded spells for {dur} on standing", "no spinning sensation", "no new meds"],
  neg=["no syncope", "no focal weakness", "no hearing loss"],
  find=["Dix-Hallpike negative", "orthostatics borderline", "neuro exam normal"],
  ax=["lightheadedness, nonspecific", "dizzy spells, cause unclear", "giddiness NOS"],
  plan=["hydration", "rise slowly", "follow up 2 weeks"])

# -- Chapter 19: injuries (7th character = encounter) --------------------------------------------

for _side, _code in (("right", "S52.501A"), ("left", "S52.502A")):
    E(_code, cc=["wrist pain after fall", "fell on outstretched hand"], setting="ed", conflicts=("S52",),
      ctx_side=_side,
      hpi=["fell onto the outstretched {side} hand on ice today", "swelling and deformity of the {side} wrist", "first visit for this injury"],
      neg=["skin intact, no open wound", "no numbness in the fingers"],
      find=["x-ray: distal radius fracture, {side}, closed, minimally displaced", "{side} wrist swelling, NV intact", "skin intact"],
      ax=["closed distal radius fracture, {side}, initial visit", "{side} distal radius fracture (closed), new", "fracture of the {side} distal radius, closed, first encounter"],
      plan=["closed reduction and sugar-tong splint", "ortho follow-up in 1 week", "elevation, ice"])
for _side, _code in (("right", "S93.401A"), ("left", "S93.402A")):
    E(_code, cc=["ankle injury", "twisted ankle"], conflicts=("S93", "S82"),
      ctx_side=_side,
      hpi=["rolled the {side} ankle playing basketball today", "swelling of the lateral {side} ankle, able to bear weight", "first visit for this injury"],
      neg=["no bony tenderness at the malleoli (Ottawa negative)", "no numbness"],
      find=["{side} ankle lateral swelling and ecchymosis", "x-ray of the {side} ankle: no fracture", "anterior drawer mildly lax"],
      ax=["{side} ankle sprain, acute, initial", "sprained {side} ankle, ligament not specified", "acute ligamentous injury of the {side} ankle"],
      plan=["RICE", "air-cast", "NSAIDs", "PT if not improved"])
E("S93.401D", cc=["ankle sprain follow-up", "recheck ankle"], conflicts=("S93", "S82"),
  hpi=["seen 2 weeks ago for a right ankle sprain, here for routine follow-up", "swelling improving, walking without crutches", "healing as expected"],
  neg=["no new injury", "no numbness"],
  find=["mild residual swelling right ankle", "full weight bearing", "mild tenderness over the ATFL"],
  ax=["right ankle sprain, healing, follow-up visit", "sprained right ankle, routine healing, subsequent care"],
  plan=["wean brace", "PT for balance", "return to sport in 2 weeks"])
for _side, _code in (("right", "S72.001A"), ("left", "S72.002A")):
    E(_code, cc=["fall, hip pain", "can't walk after fall"], setting="ed", age=(68, 95), conflicts=("S72",),
      ctx_side=_side,
      hpi=["mechanical fall at home onto the {side} side, unable to bear weight", "{side} leg shortened and externally rotated", "first presentation"],
      neg=["no head strike", "no LOC"],
      find=["x-ray: {side} femoral neck fracture, closed", "{side} leg shortened and externally rotated", "NV intact distally"],
      ax=["{side} hip fracture, femoral neck, closed, initial", "closed fracture of the {side} femoral neck", "{side} femoral neck fracture after a fall"],
      plan=["orthopedics for hemiarthroplasty", "pain control, pre-op labs", "VTE prophylaxis"])
for _code, _loc in (("S06.0X0A", "no"), ("S06.0X1A", "brief")):
    E(_code, cc=["head injury", "hit head"], setting="ed", conflicts=("S06",),
      ctx_loc=_loc,
      hpi=["struck head during a soccer game today" + ("; did not lose consciousness" if _loc == "no" else "; teammates say {he} was out for about {minutes} minutes"),
           "headache and mild confusion afterwards" + (", fully awake throughout" if _loc == "no" else ", brief LOC then amnesia for the event"),
           "first evaluation for this injury"],
      neg=["no vomiting", "no focal weakness"],
      find=["GCS 15", "CT head negative", "normal neuro exam"],
      ax=["concussion" + (" without LOC" if _loc == "no" else " with brief LOC (< 30 min)") + ", initial visit",
          "mild TBI (concussion)" + (", no loss of consciousness" if _loc == "no" else ", loss of consciousness {minutes} minutes")],
      plan=["cognitive and physical rest", "graded return to play", "return precautions"])

# -- Chapter 21: encounters ---------------------------------------------------------------------

E("Z00.00", cc=["annual physical", "yearly checkup"], age=(22, 70),
  hpi=["here for an annual wellness exam, no complaints", "feels well; exercises regularly", "due for routine labs"],
  neg=["denies chest pain, SOB or weight change", "no concerns today"],
  find=["normal exam", "BMI 24", "labs: CBC, CMP and lipids normal"],
  ax=["routine adult health check-up, normal findings", "well adult visit, no abnormalities found", "annual preventive exam, all normal"],
  plan=["age-appropriate screening", "vaccines up to date", "return in 1 year"])
E("Z00.01", cc=["annual physical", "yearly physical"], age=(30, 75),
  hpi=["here for annual preventive exam; no complaints", "feels well", "routine screening labs done before visit"],
  neg=["denies chest pain", "no complaints"],
  find=["BP 148/94 on two readings (new)", "fasting glucose 118", "LDL 172 on screening labs"],
  ax=["annual preventive exam with abnormal findings (new elevated BP and glucose)", "routine adult exam, abnormal screening results"],
  plan=["repeat BP in 2 weeks", "A1c", "lifestyle counseling"])
E("Z23", cc=["flu shot", "vaccines"],
  hpi=["here for seasonal influenza vaccine only", "nurse visit for vaccination", "needs Tdap booster"],
  neg=["no fever today", "no prior vaccine reactions"],
  find=["afebrile", "no contraindications"],
  ax=["vaccination visit", "immunization today"],
  plan=["influenza vaccine given IM left deltoid", "VIS provided", "observe 15 min"])

# ---------------------------------------------------------------------------
# Comorbidities (coded as secondary) and uncoded distractors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Comorbidity:
    code: str
    hx: Sequence[str]
    ap: Sequence[str]
    meds: Sequence[str | tuple[str, str]] = ()
    blocks: frozenset[str] = frozenset()  # categories it may not appear beside (besides its own)


COMORBIDITIES: list[Comorbidity] = [
    Comorbidity("I10", ["HTN", "hypertension", "high blood pressure"], ["HTN: controlled, continue lisinopril", "HTN at goal on amlodipine", "hypertension stable"], ["lisinopril 20 mg daily", "amlodipine 5 mg daily", "losartan 50 mg daily"],
                frozenset({"I11", "I12", "I13", "I50", "N18", "I15"})),
    Comorbidity("E78.5", ["HLD", "hyperlipidemia", "dyslipidemia"], ["HLD: continue statin", "hyperlipidemia, on atorvastatin"], ["atorvastatin 40 mg nightly", "simvastatin 20 mg"], frozenset({"E78"})),
    Comorbidity("E11.9", ["T2DM", "type 2 diabetes, diet and metformin", "DM2"], ["T2DM: A1c {a1c_ok}%, continue metformin", "DM2 stable, no complications"], [("metformin 500 mg BID", "Z79.84")],
                frozenset({"E10", "E11", "E13", "O24", "N18", "I12", "G56", "L97", "H25", "E87", "Z79"})),
    Comorbidity("F17.210", ["current smoker ({ppd})", "smokes cigarettes, {ppd}"], ["tobacco: cessation counseling > 3 min, declined meds", "smoking: advised to quit, nicotine patch offered"], (), frozenset({"F17", "Z87"})),
    Comorbidity("Z87.891", ["former smoker, quit {quit} years ago", "ex-smoker ({pack} pack-years, quit)"], (), (), frozenset({"F17", "Z87"})),
    Comorbidity("K21.9", ["GERD", "acid reflux"], ["GERD: continue PPI"], ["omeprazole 20 mg daily", "pantoprazole 40 mg daily"], frozenset({"K21", "R10", "K29"})),
    Comorbidity("E03.9", ["hypothyroidism", "hypothyroid"], ["hypothyroidism: continue levothyroxine, TSH normal"], ["levothyroxine 75 mcg daily", "levothyroxine 100 mcg daily"], frozenset({"E03", "E05", "E06"})),
    Comorbidity("G47.33", ["OSA on CPAP", "sleep apnea, uses CPAP"], ["OSA: CPAP adherent"], (), frozenset({"G47"})),
    Comorbidity("J45.909", ["asthma", "asthma since childhood"], ["asthma: quiescent, albuterol PRN"], ["albuterol inhaler PRN"], frozenset({"J45", "J44", "J43"})),
    Comorbidity("M17.0", ["OA of both knees", "bilateral knee DJD"], ["knee OA: acetaminophen PRN"], ["acetaminophen 650 mg PRN"], frozenset({"M17", "M16", "S93", "S72", "M10"})),
    Comorbidity("F41.1", ["GAD", "anxiety (GAD)"], ["GAD: stable on sertraline"], ["sertraline 100 mg daily"], frozenset({"F41", "F32", "F33", "F43", "F10"})),
    Comorbidity("E66.9", ["obesity (BMI {bmi30})"], ["obesity: counseled on diet and exercise"], (), frozenset({"E66"})),
    Comorbidity("N40.1", ["BPH with nocturia"], ["BPH: continue tamsulosin"], ["tamsulosin 0.4 mg nightly"], frozenset({"N40", "C61", "N39", "N30", "N10", "N20"})),
    Comorbidity("M81.0", ["osteoporosis"], ["osteoporosis: continue alendronate"], ["alendronate 70 mg weekly"], frozenset({"M81", "M80", "S72", "S52"})),
]
_MALE_ONLY = {"N40.1"}
_FEMALE_ONLY = {"M81.0"}

DISTRACTORS: list[tuple[str, frozenset[str]]] = [
    ("s/p appendectomy", frozenset({"K35", "R10"})),
    ("s/p laparoscopic cholecystectomy", frozenset({"K80", "K81", "K85", "R10"})),
    ("remote tonsillectomy", frozenset({"J02"})),
    ("seasonal allergies", frozenset()),
    ("s/p left knee arthroscopy (2016)", frozenset({"M17", "S93"})),
    ("remote right wrist fracture, healed", frozenset({"S52", "G56"})),
    ("family history of colon cancer (father)", frozenset({"C18"})),
    ("family history of MI in mother at 62", frozenset()),
    ("childhood asthma, resolved", frozenset({"J45", "J44"})),
    ("s/p hernia repair", frozenset()),
    ("migraines in {his} 20s, none since", frozenset({"G43", "G44", "R51"})),
    ("kidney stone 2018", frozenset({"N20", "R10"})),
]

# ---------------------------------------------------------------------------
# Composer
# ---------------------------------------------------------------------------

_LAYOUTS = ("clinic", "soap", "brief")


def _cat(code: str) -> str:
    return code.replace(".", "")[:3]


def _pick(rng: random.Random, seq: Sequence, k: int) -> list:
    k = max(0, min(k, len(seq)))
    return rng.sample(list(seq), k)


def _vitals(rng: random.Random, entry: Entry) -> tuple[str, dict[str, str]]:
    v = dict(entry.vit)
    t = rng.uniform(*v.get("T", (36.5, 37.3)))
    hr = round(rng.uniform(*v.get("HR", (62, 92))))
    sbp = round(rng.uniform(*v.get("SBP", (112, 138))))
    dbp = round(rng.uniform(*v.get("DBP", (66, 86))))
    rr = round(rng.uniform(*v.get("RR", (12, 18))))
    spo2 = round(rng.uniform(*v.get("SpO2", (95, 99))))
    if rng.random() < 0.5:
        text = f"T {t:.1f} C, HR {hr}, BP {sbp}/{dbp}, RR {rr}, SpO2 {spo2}% RA"
    else:
        text = f"Vitals: {t * 9 / 5 + 32:.1f} F, P {hr}, BP {sbp}/{dbp}, RR {rr}, sat {spo2}%"
    return text, {"sbp": str(sbp), "dbp": str(dbp)}


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _compose(rng: random.Random, entry: Entry, ctx_extra: Mapping[str, str]
             ) -> tuple[str, list[str]]:
    sex = entry.sex or rng.choice("MF")
    age = rng.randint(*entry.age)
    ctx: dict[str, str] = {
        "he": "he" if sex == "M" else "she", "him": "him" if sex == "M" else "her",
        "his": "his" if sex == "M" else "her",
    }
    ctx.update(ctx_extra)
    vit_text, vit_ctx = _vitals(rng, entry)
    ctx.update(vit_ctx)
    # A few slots must read the same everywhere in one note (stage, lab value quoted twice).
    for key in ("egfr3a", "egfr3b", "egfr3", "egfr4", "a1c_ok", "a1c_hi", "bmi30", "bmi40", "ga", "minutes",
                "ef_lo", "ef_ok", "trop", "lipase", "cr_hi", "cr_base", "wbc", "hgb_lo", "glu_hi", "glu_lo",
                "tsh_hi", "tsh_lo", "ldl", "tg", "vitd", "psa", "peak", "gad", "phq", "phq_mod", "phq_sev", "pack"):
        ctx.setdefault(key, SLOTS[key](rng))
    for key in list(ctx_extra):  # context values may themselves hold slots ("{egfr3a}")
        ctx[key] = _fill(ctx[key], rng, ctx)
    f = lambda t: _fill(t, rng, ctx)  # noqa: E731

    # comorbidities: coded secondaries, never clashing with the primary or each other
    present = {_cat(entry.code)} | {_cat(code) for code, _, _ in entry.sec}
    blocked = present | set(entry.conflicts)
    n_comorb = rng.choices([0, 1, 2, 3], weights=[25, 35, 25, 15])[0]
    chosen: list[Comorbidity] = []
    for c in rng.sample(COMORBIDITIES, len(COMORBIDITIES)):
        if len(chosen) >= n_comorb:
            break
        if (c.code in _MALE_ONLY and sex != "M") or (c.code in _FEMALE_ONLY and sex != "F"):
            continue
        if _cat(c.code) in blocked or c.blocks & present:
            continue
        chosen.append(c)
        present.add(_cat(c.code))
        blocked |= {_cat(c.code)} | set(c.blocks)
    distractors = [d for d, bad in DISTRACTORS if not (bad & {_cat(entry.code)})]
    n_distract = rng.choices([0, 1, 2], weights=[35, 45, 20])[0]
    picked_distract = _pick(rng, distractors, n_distract)

    secondary: list[str] = []
    for code, _hx, _ap in entry.sec:
        secondary.append(f(code))
    # medications
    meds: list[str] = []
    for m in _pick(rng, entry.meds, rng.choice([0, 1, 1, 2])):
        if isinstance(m, tuple):
            meds.append(m[0])
            if m[1] not in secondary:
                secondary.append(m[1])
        else:
            meds.append(m)
    for c in chosen:
        secondary.append(c.code)
        if c.meds and rng.random() < 0.7:
            med = rng.choice(c.meds)
            if isinstance(med, tuple):
                med, implied = med
                secondary.append(implied)
            meds.append(med)
    # Dedupe in order; a comorbidity can't repeat a code the entry already adds.
    seen: set[str] = {entry.code}
    secondary = [s for s in secondary if not (s in seen or seen.add(s))]

    pmh_items = [f(rng.choice(c.hx)) for c in chosen] + [f(h) for _, h, _ in entry.sec if h]
    pmh_items += [f(d) for d in picked_distract]
    rng.shuffle(pmh_items)

    cc = f(rng.choice(entry.cc))
    hpi_idx = sorted(_pick(rng, range(len(entry.hpi)), rng.choice([2, 2, 3])))  # keep story order
    hpi = [_sentence(f(entry.hpi[i])) for i in hpi_idx]
    negs = [f(n) for n in _pick(rng, entry.neg, rng.choice([1, 1, 2]))]
    finds = [f(x) for x in _pick(rng, entry.find, rng.choice([2, 2, 3]))]
    ax = f(rng.choice(entry.ax))
    plan = [f(p) for p in _pick(rng, entry.plan, rng.choice([2, 3]))]
    other_ap = [f(rng.choice(c.ap)) for c in chosen if c.ap and rng.random() < 0.8]
    other_ap += [f(ap) for _, _, ap in entry.sec if ap]

    sexw = rng.choice(["man", "male"]) if sex == "M" else rng.choice(["woman", "female"])
    intro = rng.choice([f"{age}-year-old {sexw}", f"{age} yo {sex}", f"{age}yo {sexw}"])
    if pmh_items and rng.random() < 0.5:
        intro += " with PMH of " + ", ".join(pmh_items[:3])
        pmh_line = ", ".join(pmh_items[3:])
    else:
        pmh_line = ", ".join(pmh_items)
    cc_in_text = cc if cc[:2].isupper() else cc[0].lower() + cc[1:]
    hpi_text = f"{intro} presents for {cc_in_text}. " if rng.random() < 0.5 else f"{intro}. "
    hpi_text += " ".join(hpi)
    neg_text = _sentence("; ".join(negs)) if negs else ""
    meds_line = ", ".join(meds) if meds else rng.choice(["none", "no daily meds", "see med list, no changes"])
    exam = vit_text + ". " + _sentence("; ".join(finds))
    ap_lines = [f"1. {_sentence(ax)} Plan: {'; '.join(plan)}."]
    for i, extra in enumerate(other_ap, 2):
        ap_lines.append(f"{i}. {_sentence(extra)}")

    layout = rng.choice(_LAYOUTS) if entry.setting == "clinic" else rng.choice(["ed", "soap", "clinic"])
    if layout == "clinic":
        parts = [f"CHIEF COMPLAINT: {cc}", f"HPI: {hpi_text} {neg_text}".strip()]
        if pmh_line:
            parts.append(f"PMH: {pmh_line}")
        parts += [f"MEDS: {meds_line}", f"EXAM: {exam}", "ASSESSMENT/PLAN:\n" + "\n".join(ap_lines)]
    elif layout == "soap":
        s = f"S: {hpi_text} {neg_text}".strip()
        if pmh_line:
            s += f" Hx: {pmh_line}."
        s += f" Meds: {meds_line}."
        parts = [s, f"O: {exam}", "A/P:\n" + "\n".join(ap_lines)]
    elif layout == "ed":
        parts = [f"ED NOTE. CC: {cc}", f"HPI: {hpi_text} {neg_text}".strip(),
                 f"PMH: {pmh_line or ('as above' if pmh_items else 'none')}. Home meds: {meds_line}.", f"PE: {exam}",
                 "MDM/Disposition:\n" + "\n".join(ap_lines)]
    else:  # brief
        parts = [f"Reason for visit: {cc}.", f"{hpi_text} {neg_text}".strip()]
        if pmh_line:
            parts.append(f"History: {pmh_line}.")
        parts += [f"Medications: {meds_line}.", f"Exam: {exam}", "Impression and plan:\n" + "\n".join(ap_lines)]
    return "\n".join(parts), secondary


def label_codes() -> list[str]:
    """Every primary code the generator can produce, sorted."""
    return sorted({e.code for e in ENTRIES})


def secondary_codes() -> set[str]:
    """Every secondary code a note can carry (entries' own, implied by medications, comorbidities)."""
    out: set[str] = set()
    for e in ENTRIES:
        for code, _, _ in e.sec:
            out |= {code.replace("{ga}", str(w)) for w in GA_WEEKS} if "{ga}" in code else {code}
        out |= {m[1] for m in e.meds if isinstance(m, tuple)}
    for c in COMORBIDITIES:
        out.add(c.code)
        out |= {m[1] for m in c.meds if isinstance(m, tuple)}
    return out


def _forbidden(code: str, descriptions: Mapping[str, str]) -> list[str]:
    plain = code.replace(".", "").lower()
    out = [code.lower(), plain]
    if code in descriptions:
        out.append(descriptions[code].lower())
    return out


def leaks(text: str, codes: Sequence[str], descriptions: Mapping[str, str]) -> list[str]:
    """The forbidden strings (a code, dotted or not, or its official description) found in `text`."""
    low = text.lower()
    return [s for code in codes for s in _forbidden(code, descriptions) if s in low]


def generate_notes(seed: int = 0, n_train: int = 2400, n_test: int = 600,
                   descriptions: Mapping[str, str] | None = None
                   ) -> tuple[list[dict], list[dict]]:
    """(train, test) lists of {"id", "text", "code", "secondary"}; byte-identical for a seed.

    Every code in the label space gets an (almost) equal share of each split. `descriptions` maps
    codes to official descriptions; a note that would contain one of its codes or their description
    is redrawn (the content tables are written so this is rare).
    """
    descriptions = descriptions or {}
    rng = random.Random(seed)
    by_code: dict[str, list[Entry]] = {}
    for e in ENTRIES:
        by_code.setdefault(e.code, []).append(e)
    codes = sorted(by_code)
    seen_texts: set[str] = set()
    splits: list[list[dict]] = []
    for split, n in (("train", n_train), ("test", n_test)):
        order: list[str] = []
        while len(order) < n:
            batch = list(codes)
            rng.shuffle(batch)
            order += batch
        order = order[:n]
        rows = []
        for i, code in enumerate(order):
            for _attempt in range(50):
                entry = rng.choice(by_code[code])
                text, secondary = _compose(rng, entry, entry.ctx)
                if text in seen_texts or leaks(text, [code, *secondary], descriptions):
                    continue
                break
            else:  # pragma: no cover - the content tables make this unreachable in practice
                raise RuntimeError(f"could not generate a clean note for {code}")
            seen_texts.add(text)
            rows.append({"id": f"{split}-{i:05d}", "text": text, "code": code, "secondary": secondary})
        splits.append(rows)
    return splits[0], splits[1]

