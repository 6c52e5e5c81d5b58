"""Synthetic clinical notes for the pipeline tests (written for cac; no real PHI)."""

from __future__ import annotations

OPERATIVE_REPORT = """\
OPERATIVE REPORT

DATE OF SERVICE: 03/14/2024
PREOPERATIVE DIAGNOSIS: Acute appendicitis.
POSTOPERATIVE DIAGNOSIS: Acute perforated appendicitis with localized peritonitis.
PROCEDURE(S) PERFORMED: Laparoscopic appendectomy.
SURGEON: Dr. Jones
ANESTHESIA: General endotracheal.
INDICATIONS: 24 yo F with 2 days of RLQ pain, fever and leukocytosis. CT showed appendicitis.
FINDINGS: Perforated appendix with purulent fluid in the pelvis. No abscess.
ESTIMATED BLOOD LOSS: 10 mL.
SPECIMENS: Appendix to pathology.
COMPLICATIONS: None.
DESCRIPTION OF PROCEDURE
The patient was brought to the operating room and placed supine. After induction of
general anesthesia, the abdomen was prepped and draped. A 12 mm port was placed at the
umbilicus. The appendix was divided at its base with an endoscopic stapler. The pelvis was
irrigated. The patient tolerated the procedure well.
DISPOSITION: To PACU in stable condition.
"""

DISCHARGE_SUMMARY = """\
DISCHARGE SUMMARY

Chief Complaint: Shortness of breath

History of Present Illness:
72 yo M with HTN, DM2, CKD stage 3 and h/o MI s/p CABG in 2015 who presents with
worsening dyspnea on exertion and leg swelling. He denies chest pain, fever, or cough.
No further episodes of syncope since last admission.

Past Medical History:
1. HTN
2. DM2
3. History of prostate cancer, resolved.
Past Surgical History: CABG 2015, TURP 2018

Family History: Mother with breast cancer. Father had MI at 60.
Social History: Former smoker, quit 2010. No EtOH.
Allergies: Penicillin (rash).

Review of Systems:
Negative for fever, chills or nausea.

Physical Exam:
Vitals: BP 150/90, HR 88, SpO2 93% on RA.
Lungs: bibasilar crackles. No CVA tenderness.

Hospital Course:
Acute on chronic systolic CHF exacerbation, treated with IV diuresis. PE was ruled out by CTA.
Possible pneumonia versus atelectasis on CXR; no antibiotics given.

Discharge Diagnoses:
1. Acute on chronic systolic heart failure 2. Hypertension 3. Type 2 diabetes mellitus

Discharge Instructions:
Return if chest pain or shortness of breath worsens. Call if weight gain over 3 lbs.

Follow up: PCP in 1 week.
"""


def long_note(words: int = 1500) -> str:
    """A note of about ``words`` words, built from the discharge summary."""
    parts: list[str] = []
    count = 0
    while count < words:
        parts.append(DISCHARGE_SUMMARY)
        count += len(DISCHARGE_SUMMARY.split())
    return "\n".join(parts)
