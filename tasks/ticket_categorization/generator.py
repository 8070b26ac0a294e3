"""Synthetic support-ticket queue for the ``ticket_categorization`` task.

Why this exists
---------------
The benchmark needs a text-classification task whose labels are known
exactly, whose data can be regenerated from a seed (so nothing has to be
downloaded or stored), and which is *not* solvable by keyword matching.
Real support queues are hard for that reason: customers rarely name the
category ("refund", "bug") and instead describe their situation, they
mention unrelated things in passing, and many categories share vocabulary
and differ only in what the customer actually wants.

This module imitates that for one fictional product, **Harvestly**: a
weekly meal-kit subscription (recipe boxes delivered to the door) with a
companion mobile app, operating in the US and Canada.

Design
------
* Every category has a dozen or more hand-written *intent* phrasings with
  slots (order numbers, amounts, dates, plans, recipes, ...). The category
  word itself is usually absent.
* Categories come in near-miss pairs/groups (refund vs billing dispute,
  password reset vs locked account, shipping delay vs lost package, ...)
  whose templates deliberately share vocabulary.
* A ticket is composed of optional greeting, neutral context sentence,
  the intent, an optional unrelated aside (which often contains another
  category's keywords), an optional closer and sign-off, then roughened
  with typos, texting shorthand, all-lowercase or shouting.
* :func:`keyword_baseline` is an honest hand-written keyword rule; it is
  the straw man showing the data is not trivially solvable.

Only ``random.Random(seed)`` is used, so the same seed always yields
byte-identical output.
"""

# ruff: noqa: E501  (the template tables keep one customer phrasing per line on purpose)
from __future__ import annotations

import random
import re

# ---------------------------------------------------------------------------
# Label set
# ---------------------------------------------------------------------------

PRODUCT = "Harvestly"

CATEGORIES: dict[str, str] = {
    "refund_request": "The charge was correct, but the customer wants money back for a box or meal they were unhappy with (spoiled, inedible, unwanted).",
    "billing_dispute": "A charge itself is wrong: double charge, wrong amount, charged after cancelling/skipping, or an unrecognised payment.",
    "payment_failed": "The customer's payment was declined, rejected or did not go through.",
    "update_payment_method": "The customer wants to change, add or replace the card/payment method on file.",
    "password_reset": "The customer forgot their password or wants to reset/change it (including reset emails not arriving).",
    "account_locked": "The customer knows their credentials but the account is locked, blocked, suspended or on a security hold.",
    "cancel_subscription": "The customer wants to stop the subscription completely, for good.",
    "downgrade_plan": "The customer wants to stay subscribed but move to fewer meals, fewer servings or a cheaper plan.",
    "upgrade_plan": "The customer wants more meals, more servings or a bigger/premium plan.",
    "pause_delivery": "The customer wants to skip or pause deliveries temporarily and then continue.",
    "shipping_delay": "A box is late or behind schedule but is still expected to arrive.",
    "lost_package": "A box is marked delivered but was never received, or has vanished in transit and is considered lost.",
    "missing_item": "The box arrived, but an ingredient or a whole meal kit was not inside it.",
    "damaged_item": "Items arrived crushed, leaking, warm or spoiled and the customer reports it or wants a replacement (not money back).",
    "bug_report": "The app or website is malfunctioning: crashes, errors, wrong display, buttons not working.",
    "feature_request": "The customer suggests new functionality or an improvement that does not exist yet.",
    "data_export": "The customer wants a copy of the personal data / history held about them (GDPR access request).",
    "account_deletion": "The customer wants their account and personal data permanently erased (GDPR erasure).",
    "invoice_request": "The customer needs an invoice, receipt or proof-of-payment document.",
    "tax_question": "The customer asks about sales tax / GST / HST / VAT charged, tax rates or exemptions.",
    "change_address": "The customer wants deliveries sent to a different address.",
    "delivery_instructions": "Same address, but the customer wants to tell the courier how or where to leave the box.",
    "promo_code_issue": "A discount, promo or referral code is rejected or does not take effect.",
    "gift_card": "Buying, sending, redeeming or checking the balance of a gift card or gift subscription.",
    "allergen_question": "The customer asks whether recipes contain allergens or specific ingredients.",
    "change_meal_selection": "The customer wants to choose or swap the recipes in an upcoming box.",
}

# Relative frequency in a real queue (delivery and money problems dominate).
# Per-seed jitter is applied on top, so the imbalance is mild but present.
PRIOR_WEIGHTS: dict[str, float] = {
    "refund_request": 1.2, "billing_dispute": 1.25, "payment_failed": 1.0,
    "update_payment_method": 0.9, "password_reset": 1.1, "account_locked": 0.85,
    "cancel_subscription": 1.2, "downgrade_plan": 0.9, "upgrade_plan": 0.7,
    "pause_delivery": 1.05, "shipping_delay": 1.35, "lost_package": 1.0,
    "missing_item": 1.15, "damaged_item": 1.05, "bug_report": 1.1,
    "feature_request": 0.75, "data_export": 0.7, "account_deletion": 0.8,
    "invoice_request": 0.85, "tax_question": 0.7, "change_address": 0.95,
    "delivery_instructions": 0.8, "promo_code_issue": 1.0, "gift_card": 0.75,
    "allergen_question": 0.8, "change_meal_selection": 0.95,
}

# Near-miss groups: categories whose tickets share vocabulary.
NEAR_MISS_PAIRS: list[tuple[str, str]] = [
    ("refund_request", "billing_dispute"),
    ("refund_request", "damaged_item"),
    ("password_reset", "account_locked"),
    ("cancel_subscription", "downgrade_plan"),
    ("cancel_subscription", "pause_delivery"),
    ("downgrade_plan", "upgrade_plan"),
    ("shipping_delay", "lost_package"),
    ("lost_package", "missing_item"),
    ("missing_item", "damaged_item"),
    ("bug_report", "feature_request"),
    ("data_export", "account_deletion"),
    ("invoice_request", "tax_question"),
    ("change_address", "delivery_instructions"),
    ("promo_code_issue", "gift_card"),
    ("allergen_question", "change_meal_selection"),
    ("update_payment_method", "payment_failed"),
]

# ---------------------------------------------------------------------------
# Intent templates: one or two sentences stating what the customer wants.
# ---------------------------------------------------------------------------

INTENTS: dict[str, list[str]] = {
    "refund_request": [
        "The {fresh} in my last box was already going off when I opened it, and I'd like the money for that box back on my card please.",
        "I want my money back for order {order}. Half the veg was mushy and the {meal} was inedible.",
        "Can you send the {amount} back to my card? We ate one meal out of that box and the rest went in the bin.",
        "The box that came {date} sat in the heat and I'm not comfortable eating any of it, so please return the {amount} I paid.",
        "I'd like to be reimbursed for the {meal} kit, it was nothing like the photo and honestly not edible.",
        "I was away when box {order} was delivered and it spoiled on the porch. I know that's partly on me, but could I get some of the {amount} back?",
        "The {meal} box smelled off as soon as we opened it. I don't want a replacement, I just want what I paid returned.",
        "I'd like my {amount} back for the {date} delivery. The meat was grey and the sauce had burst over everything.",
        "Honestly the last box was so poor I'd rather just have my money back than another box.",
        "I forgot to skip my {date} box and it turned up while we were away. My mistake, but is there any chance of getting that {amount} back?",
        "The {meal} recipe was genuinely awful and nobody in the house would eat it. Can I get the cost of that meal put back on my card?",
        "Three of the four meals in order {order} were unusable, so I'm asking for the {amount} to be paid back.",
        "Box arrived with the ice packs fully melted and everything warm. I'd like my money back please, not store credit.",
        "We tried the {plan} for the first time and the portions were tiny. I'd like to return what I paid for this week's box.",
    ],
    "billing_dispute": [
        "I see two payments of {amount} on {date} for the same box. Only one box came.",
        "My card statement shows {amount} taken on {date} but I skipped that week in the app.",
        "I stopped my subscription in {month}, yet another {amount} came out of my account this morning.",
        "My plan is {amount2} a week but you took {amount}. Why?",
        "There's a payment of {amount} from {product} on my statement that I don't recognise. I've never ordered from you.",
        "Why did you take {amount} from my {card} when I'm on {plan}, which is {amount2}?",
        "You've taken money for five boxes this month but there were only four deliveries.",
        "There's a {amount} payment dated {date} that doesn't match any order in my history.",
        "Your system took money twice for order {order}. Please fix it and put the extra one back.",
        "I paused deliveries until {date} and still got debited {amount} this week.",
        "Someone at your end has made a mistake: my {card} was hit for {amount} on {date} even though my account was closed.",
        "The amount taken for order {order} is wrong, it was {amount} instead of {amount2}.",
        "I was told my first box would be free but {amount} has gone out of my account.",
        "My bank app shows {product} took {amount} twice within ten minutes of each other.",
        "The price went up to {amount} without any notice. I signed up at {amount2} and that's what I expect to pay.",
    ],
    "payment_failed": [
        "I tried to pay for my box and it keeps saying the transaction couldn't be completed.",
        "Got an email saying my payment for {date} was unsuccessful, but there's plenty of money in my account.",
        "My card keeps getting rejected at checkout even though it works everywhere else.",
        "The app says 'payment declined' when I try to reactivate.",
        "Why didn't the charge go through for this week's box? My bank says they never saw an attempt.",
        "I'm getting 'unable to process' every time I confirm my order.",
        "You told me my box was on hold because of a payment problem, but my card is fine.",
        "My bank approved it but your site still shows the payment for order {order} as failed.",
        "Each time I enter my {card} it bounces back with 'transaction not authorised'.",
        "Your email says my card was refused for order {order}. What happened?",
        "Checkout won't accept my card. I've tried three times now.",
        "My last box didn't ship because the payment didn't clear. How do I retry it?",
        "It says my {card} couldn't be authorised for the {date} box. Nothing has changed on my end.",
    ],
    "update_payment_method": [
        "My bank sent me a new card, how do I put the new number on my account?",
        "Please switch my payments to my {card} instead of the old one.",
        "I want to pay with PayPal from now on instead of my card.",
        "My card runs out at the end of this month. Where do I enter the new expiry date?",
        "Can I change which card the boxes come out of? I'd like to use our joint account.",
        "How do I remove my old debit card and put a credit card on file?",
        "I've closed my old bank account, so please take future payments from my {card}.",
        "Need to swap the card on the account, the current one was reported stolen.",
        "Where do I change my billing details in the app?",
        "Can my husband's card be used instead of mine from next week?",
        "I want to add Apple Pay as my default way to pay.",
        "My card number changed after a fraud alert. Please help me get the new one on my account before {weekday}'s box.",
        "I'd like the {amount} each week to come off the {card} rather than my personal one.",
    ],
    "password_reset": [
        "I can't remember what I set my login to and I need to make a new one.",
        "I've requested the reset link three times and nothing arrives in my inbox or spam.",
        "How do I set a new password? I only ever signed in on my old phone.",
        "The link in the email to change my password says it has expired as soon as I click it.",
        "I don't know my login details anymore. Can you send me something so I can choose new ones?",
        "I need to get back into my account but I have no idea what my password is.",
        "My wife changed the password on our shared account and neither of us can remember it now.",
        "I'm trying to sign in on my new {device} and I've got no clue what my credentials were. How do I make new ones?",
        "Can you email me a link so I can pick a new login? The old one is gone from my memory completely.",
        "The 'trouble signing in?' email never shows up, I've checked junk too.",
        "My password was saved on my old laptop and now I can't recall it. What's the way to change it?",
        "I'd like to change my password because I used the same one on a site that got hacked.",
        "Which email do I use to get a new password sent? Tried {email} and nothing came.",
    ],
    "account_locked": [
        "It says my account has been temporarily disabled after too many attempts. I know my password, I just mistyped it.",
        "I'm getting 'account suspended, contact support' when I log in. I haven't done anything wrong?",
        "My login is correct (I changed it yesterday) but the app says access is restricted on this account.",
        "I got an email saying my account was frozen for unusual activity. It was just me logging in from a hotel.",
        "After I entered my details wrong a few times it won't let me in at all, even with the right password.",
        "Your system shut me out of my account after a security check and now I can't even see my orders.",
        "It keeps saying 'This account is on hold for security review'. How long does that take?",
        "My password works on the website but the app says my account is blocked.",
        "The verification code to unlock my profile never comes, so I'm stuck on the 'account restricted' screen.",
        "I've been kicked out and it says my account has been deactivated. I didn't ask for that!",
        "Can you lift the security hold on my account? I can verify my identity however you need.",
        "It shows 'Too many sign-in attempts, try again later' and it's been a whole day.",
        "I know my password is right because it autofills, but I get 'access denied' every time.",
    ],
    "cancel_subscription": [
        "Please stop all future deliveries and close my subscription, we won't be needing it anymore.",
        "I'd like to end my membership completely. Don't send any more boxes after {date}.",
        "We're moving abroad so I need to stop {product} altogether.",
        "How do I quit the subscription for good? I can't find the option in the app anywhere.",
        "Not for us anymore. Please terminate my plan and make sure nothing else gets taken.",
        "I want out of the subscription entirely. Not a pause, I'm done.",
        "Please end {plan} and don't take any more payments.",
        "Money's tight right now so I have to stop ordering altogether. Please close it out.",
        "I no longer want to receive {product} boxes. Please end the recurring order on my account.",
        "Can you make sure this week's box is my last one ever? I'm finishing with the service.",
        "Stop my subscription please. It's too much food for one person and I'm just not cooking any more.",
        "Please turn off auto-renew and end my plan at the end of this cycle.",
        "I've decided meal kits aren't for me, so please shut down my subscription for good.",
    ],
    "downgrade_plan": [
        "Can I go from {hi} meals a week down to {lo}? We're wasting too much food.",
        "I'd like to keep my subscription but switch to the 2-person size instead of the family box.",
        "Money's tight at the moment so I'd like to move to a cheaper plan rather than stop entirely.",
        "Please change me from {big_plan} to {small_plan} starting next week.",
        "The kids have moved out, so we only need portions for two now. Can you make my box smaller?",
        "Is it possible to get {lo} recipes a week instead of {hi}? I still want to stay on.",
        "I want to reduce my weekly order, {hi} dinners is too many for us.",
        "Could I drop down to the basic tier? I don't use the premium recipes.",
        "How do I switch to fewer servings per meal? 4 portions is way too much.",
        "I don't want to quit, just scale back to a smaller box that costs less.",
        "Please lower my plan to {lo} meals, same delivery day.",
        "Going part-time means a tighter budget, so can you put me on the smallest box you do?",
        "We're only home half the week now, please trim our order to {lo} meals.",
    ],
    "upgrade_plan": [
        "Can I go from {lo} meals to {hi} a week? We're loving it.",
        "My partner moved in so we need 4 portions per recipe now instead of 2.",
        "Please switch me to the family size box from next week.",
        "I'd like to add more dinners to my weekly order, {hi} instead of {lo}.",
        "How do I move up to the premium tier with the fancier recipes?",
        "We keep running out of meals by Thursday. Can I bump my plan up to {hi} recipes?",
        "Please change me from {small_plan} to {big_plan}.",
        "Is there a bigger box? {lo} meals isn't enough for a family of five.",
        "I want to go from 2 to 4 servings on every meal.",
        "Can I get the larger plan but keep the same delivery day?",
        "We've got guests staying for a month so please put us on more meals per week.",
        "Money's less tight now, so I'd like to go back to the full {hi}-meal box.",
    ],
    "pause_delivery": [
        "We're away from {date} for two weeks, so please don't send anything then. I'll be back after.",
        "Can I skip the next {weeks} weeks? Still want to keep my account going after that.",
        "Please put my deliveries on hold until {date}, we're renovating the kitchen.",
        "No box on {date} please, I'm travelling.",
        "I'd like a break from deliveries for about a month but I don't want to lose my plan.",
        "Can you stop the boxes temporarily? I'll restart them when I'm out of hospital.",
        "Could you hold off on my next {weeks} boxes? Then carry on as normal.",
        "Going on holiday, so no deliveries until {date} thanks.",
        "Is it possible to freeze my subscription for the summer and pick it back up in September?",
        "Please don't ship anything while we're at my parents' over the holidays. Start again in the new year.",
        "We have too much food in the freezer, can you miss out next week's box?",
        "How do I suspend deliveries for a few weeks without closing the account?",
        "I just need {weeks} weeks off and then the same plan as before.",
    ],
    "shipping_delay": [
        "My box was supposed to come {date} and the tracking still says it's on the way.",
        "Delivery window was 8am to 12pm, it's now 6pm and no box yet. Is it still coming today?",
        "Tracking for order {order} has said 'out for delivery' since this morning. When will it actually get here?",
        "Order {order} is a day behind schedule again. This is the third week running.",
        "The courier says there's a hold-up at the depot. Will my food still be OK when it finally shows up?",
        "It's {weekday} and my box still hasn't turned up, though tracking shows it moving.",
        "Expected my delivery yesterday, and the app now says it'll come tomorrow. Why the change?",
        "Still no sign of today's box and I have guests coming for dinner at 7. Any ETA?",
        "The tracking keeps pushing the estimated arrival back by a day. When will order {order} actually reach me?",
        "Is there a problem with deliveries in {city} this week? Mine is running behind.",
        "Box is now two days past the date you gave me. Is it still in transit?",
        "Please tell me when my box will arrive, it's later than usual and I need to plan meals.",
        "The delivery van hasn't come yet and my window ended an hour ago.",
    ],
    "lost_package": [
        "Tracking says order {order} was delivered at 2:14pm but there's nothing at my door. I've checked with neighbours.",
        "My box never came. Tracking stopped updating {days} days ago and the courier has no record of it.",
        "The app shows my {date} box as delivered but it's not here. I think someone took it.",
        "The courier's photo shows a box on a porch that isn't mine. I never got it.",
        "It's been a week and box {order} has simply vanished. Can you send another one?",
        "Order {order} shows delivered, but it's nowhere: not in the lobby, not with the concierge.",
        "The courier said they handed it to someone at my address but I live alone and was home all day.",
        "My box disappeared somewhere between the depot and my house. Tracking last updated {date}.",
        "It's been stuck at 'in transit' since {date} and I don't believe it's ever turning up. Please send a replacement.",
        "Someone signed for my delivery and it wasn't me. Where is my box?",
        "The courier apparently left it at the wrong house, and nobody knows which one.",
        "Marked as delivered {date}, never received. The food will be ruined by now wherever it is.",
        "I got the 'your box has arrived' text but there is no box anywhere.",
    ],
    "missing_item": [
        "The box came fine but there was no {ingredient} for the {meal}.",
        "One of my three meal bags wasn't in the box. The {meal} was nowhere to be found.",
        "I opened my delivery and the {ingredient} I needed for tonight isn't in there.",
        "We got the box but only 2 of the 3 recipes were in it.",
        "No sauce sachet in the {meal} bag, so I couldn't make it.",
        "The recipe card lists {ingredient} but my box didn't have any.",
        "Box {order} arrived but it was short the {meal} kit entirely.",
        "Everything for the {meal} was there except the {ingredient}. Can you send it with the next box?",
        "Opened today's delivery and there's no {fresh} at all for the {meal}.",
        "The fourth meal I chose didn't come in my box.",
        "Half the ingredients for the {meal} just aren't there: no {ingredient} and no spice mix.",
        "I think you forgot to pack the {ingredient}? Couldn't find it in any of the bags.",
        "The bag labelled {meal} only had the dry stuff in it, the {fresh} was not included.",
    ],
    "damaged_item": [
        "The {sauce} in my {date} box had burst and leaked all over the other bags. Could you send a replacement with my next delivery?",
        "Just letting you know box {order} arrived with the ice packs melted and the meat warm. Could you send me a new one?",
        "Two of the eggs in the {meal} kit were smashed when I opened it. Can you replace them in next week's box?",
        "The carton was torn open on one side and the {sauce} had leaked out. I'd like the ingredients resent please.",
        "My {meal} bag arrived with mould on the {fresh}. Please send a fresh one if you can.",
        "Everything in box {order} was soaked because the ice pack split. Can you reship it?",
        "The glass jar of sauce in the {meal} kit was cracked into pieces. Please send another jar, I don't want my money back.",
        "FYI the {fresh} came squashed flat again. Can I get a fresh one sent out?",
        "The liner was ripped and the {fresh} was room temperature when it got here {date}. I'd just like a replacement box.",
        "Box showed up dented and wet, and the {sauce} had split open. Please swap it for a fresh one.",
        "Part of order {order} arrived unusable, the {sauce} was leaking through the bag. Can a new one go out this week?",
        "Spoiled {fresh} in today's box. Not after money, just want to flag it and get it replaced.",
        "The {fresh} for the {meal} arrived squashed and past it. Could you resend that meal?",
    ],
    "bug_report": [
        "The app closes itself every time I open the recipe page on my {device}.",
        "When I try to choose meals for next week the page just spins forever.",
        "On my {device} the 'Save' button in account settings does nothing.",
        "The steps for the {meal} show up in the wrong order in the app.",
        "Since the last update the app logs me out every few minutes on my {device}.",
        "The website shows my delivery day as Monday but my box is set for Thursday in the app.",
        "The menu screen throws 'Error 500' when I press confirm on my picks.",
        "The timers in cook mode reset whenever my phone screen locks.",
        "Notifications about my delivery arrive twice, sometimes three times.",
        "The nutrition info for the {meal} shows 0 calories, which can't be right.",
        "Pictures aren't loading in the app on my {device}, just grey boxes.",
        "If I rotate my iPad mid-recipe the app jumps back to the first step.",
        "The 'Manage deliveries' page is blank on {device}. Just white, nothing loads.",
        "Tapping the plus button on the shopping list makes the app quit.",
    ],
    "feature_request": [
        "It'd be great if the app let you filter recipes by cooking time.",
        "Could you add a way to save favourite recipes so I can order them again?",
        "Any chance of a dark mode in the app? I cook late at night.",
        "Please consider letting us rate meals so the menu learns what we like.",
        "It would be really handy to send the shopping list to my notes app.",
        "Would love to see a printable version of the recipe cards on the website.",
        "Can you make it possible to choose a different delivery day for different weeks?",
        "Have you thought about adding a 'kid-friendly' tag to the menu?",
        "I'd love an Apple Watch app with the cooking timers.",
        "Suggestion: show the calories per portion right on the menu page instead of inside each recipe.",
        "Is there any plan to support Google Pay at checkout?",
        "Voice control for the cooking steps would be amazing when my hands are covered in flour.",
        "Could you let us share a recipe link with friends who aren't subscribers?",
        "Please let us pick portion sizes per recipe instead of for the whole box.",
    ],
    "data_export": [
        "Under GDPR I'd like a copy of all the personal data you hold about me.",
        "Can you send me a file with my full order history and everything on my profile?",
        "I'd like to download everything my account has stored: orders, addresses, preferences.",
        "Please provide all information you have on me in a machine-readable format. I'm not closing my account.",
        "What data do you keep about me? I'd like to see all of it.",
        "I'm making a subject access request for the account {email}.",
        "Please send me all my past orders, recipes and ratings as a spreadsheet. It's my data after all.",
        "Please email me a copy of my account data. I want to take my recipe history to another service.",
        "I'd like to know what personal info you've collected and get a copy of it.",
        "For my records I need every piece of data linked to my account sent to me.",
        "Can I get a dump of my account: meal ratings, delivery addresses, payment history?",
        "Before anything else I want to see the data you hold on me, per my data protection rights.",
    ],
    "account_deletion": [
        "Please erase my account and all my personal information from your systems.",
        "I want everything about me wiped: name, addresses, card details. Don't keep anything.",
        "Under GDPR I'm asking you to remove all my data and close my profile permanently.",
        "Can you get rid of my account entirely? I don't want you storing my details anymore.",
        "I'd like my login and all associated information permanently removed.",
        "Right to be forgotten request: please scrub me from your database.",
        "I already stopped my deliveries months ago, now I want the account itself gone for good.",
        "Please confirm once my profile and order history have been destroyed.",
        "How do I permanently close my account so my info is gone?",
        "I don't want a copy of my data, I just want all of it gone.",
        "Please wipe the account {email} completely.",
        "Remove me from everything: account, mailing lists, the lot. I don't want any record kept.",
    ],
    "invoice_request": [
        "Could you send me a proper invoice for order {order}? My company reimburses meals.",
        "I need receipts for every box from {month} to {month2} for my expense report.",
        "Where can I find a PDF of my bill for {date}? I need it with my company name on it.",
        "Please email me a copy of the payment confirmation for {amount} on {date}.",
        "My accountant needs itemised statements for all my {product} purchases this year.",
        "Can I get a document showing what I paid for the gift box I bought?",
        "I need a statement with your business address and my order details for {order}.",
        "Is there a way to download billing documents from my account? I can't find them.",
        "Please resend the confirmation with the amount paid for my last order, I deleted it by accident.",
        "Can you put my business name, Brightline Design LLC, on the paperwork for my last three orders?",
        "I need proof of purchase for the {amount} I paid on {date}.",
        "My employer wants an official bill for the team lunch kits. Can you provide one?",
    ],
    "tax_question": [
        "There's an extra {small_amount} added on top of the box price at checkout. Is that a government thing, and does every state pay it?",
        "I'm in {region}. Should I be paying sales tax on meal kits?",
        "Are your meal kits counted as groceries for tax purposes? Groceries are exempt where I live.",
        "The rate added to my order went up from 5% to 13% this month. What changed?",
        "We're a registered charity. Can our orders be exempt from GST?",
        "What's your tax registration number? I need it to claim back what I paid.",
        "Why did my total in Ontario jump? Is HST being added now?",
        "The line on my receipt says 'levy' of {small_amount}. What is that and why do I pay it?",
        "Does the delivery fee get taxed as well, or just the food?",
        "My invoice shows a 'state charge' of {small_amount}. Is that right for Oregon, where there's no sales tax?",
        "I moved from Alberta to Quebec. Why is the percentage added to my box so much higher now?",
        "Can you explain how you calculate the government charges on my order?",
    ],
    "change_address": [
        "I've moved to {street}, please send everything there from now on.",
        "New place! Can you update where my boxes go to {street}?",
        "My deliveries need to go to my office at {street} starting next week.",
        "Please switch my shipping details, I'm no longer at the old flat.",
        "We relocated to {city}. Do you deliver there, and can you point my boxes to the new house?",
        "I put the wrong street number when I signed up, it should be {num} not {num2}.",
        "From {date} my boxes should go to {street} instead.",
        "The app won't let me edit my zip code, can you change it to {zip} for me?",
        "Could you redirect future deliveries to my mum's house at {street}?",
        "I'm moving on {date}. Please update the destination for all deliveries after that.",
        "The unit number on my account is wrong, I'm in {unit} not {unit2}.",
        "Please replace the street on my profile with {street}.",
    ],
    "delivery_instructions": [
        "Please tell the driver to leave the box by the back door, not the front step.",
        "The building gate code is {pin}. Can you add that so the courier can get in?",
        "Can my box be left with the concierge in the lobby instead of outside my flat?",
        "The drivers keep putting it in the sun on the porch. Can you add a note to use the shaded side entrance?",
        "Please don't ring the bell, the baby sleeps in the afternoon. Just leave it on the bench.",
        "There's a dog in the yard, so please ask drivers to leave the box at the gate.",
        "Could you note on my account that deliveries should go in the side garage?",
        "My flat is buzzer {unit}, couriers keep pressing the wrong one. Can you add that to my notes?",
        "Is it possible to have the box left with my neighbour at number {num} when I'm not in?",
        "Add a note please: leave it behind the blue recycling bin.",
        "Couriers can't find my house. It's the one behind the bakery, down the little lane. Can you pass that on?",
        "Please ask them to knock rather than leave it outside, I'm always home on delivery day.",
    ],
    "promo_code_issue": [
        "The code {code} says 'invalid' at checkout even though the email says it's good until the end of the month.",
        "I entered {code} but the {pct} off didn't come off my first box.",
        "My friend gave me their referral code and it says it can't be applied to my account.",
        "The discount from your flyer isn't working, it keeps saying expired.",
        "I typed in {code} and nothing happened, the total stayed at {amount}.",
        "The code {code} from your Instagram ad won't go through for me.",
        "The 'welcome back' offer in my inbox gives an error when I try to redeem it.",
        "Where do I put a voucher code? The box where I'm supposed to type it won't accept {code}.",
        "The app accepted {code} but then the savings vanished on the confirmation screen.",
        "I was promised {pct} off with {code} from the podcast, but it's rejected.",
        "{code} only took off $10 instead of the {pct} it says.",
        "The offer I got for coming back says 'not eligible' when I enter it.",
    ],
    "gift_card": [
        "I got a {product} gift card for my birthday. How do I use it on my account?",
        "I want to buy a gift box for my sister's wedding. Can I pick the delivery date?",
        "The gift code {gift_code} my colleague gave me isn't showing any balance.",
        "How much is left on my gift card? I've used it for two boxes.",
        "Can I send a 4-week subscription as a present to my son at university?",
        "I bought a gift voucher on {date} and the recipient never got the email.",
        "Does the gift card balance apply automatically or do I need to enter it each week?",
        "I'd like to buy {amount} worth of credit for a friend who just had a baby.",
        "I received a subscription as a present but it's asking for my card details. Will I be charged?",
        "Can a gift card be combined with a discount code on the same order?",
        "Can I change the message on the gift I sent to my dad before it goes out?",
        "Is there an expiry date on the card my aunt gave me for your boxes?",
    ],
    "allergen_question": [
        "My son has a severe peanut allergy. Are your kits packed somewhere that handles nuts?",
        "Does the {meal} contain any {allergen}?",
        "Is the sauce in the {meal} safe for someone who can't have gluten?",
        "I react to {allergen}. Which of this week's recipes should I avoid?",
        "Can you confirm if the {meal} has sesame oil in it? The card doesn't list the sauce ingredients.",
        "How do you label ingredients that may contain traces of {allergen}?",
        "My wife is coeliac. Is the pasta in the {meal} wheat-free?",
        "Is there shellfish in any of the broths you use?",
        "Are your 'dairy-free' recipes made without butter in the sauces?",
        "I react badly to soy. Is it in the teriyaki glaze?",
        "Could you tell me what's in the spice mix for the {meal}? I have a reaction to mustard seed.",
        "Is it safe for my lactose-intolerant daughter to eat the {meal}?",
    ],
    "change_meal_selection": [
        "I'd like to swap the {meal} in next week's box for the {meal2}.",
        "Can I pick different recipes for the {date} delivery? The ones chosen for me aren't great.",
        "Please replace the {meal} with something vegetarian for next week.",
        "I forgot to choose my meals and you auto-picked fish three times. Can I change them before the cutoff?",
        "Can you take the {meal} out of my upcoming box and put in the {meal2}?",
        "How do I change what's coming on {date}? I want the {meal2} instead.",
        "The kids won't touch the {meal}, so please make sure my next box has the {meal2} instead.",
        "Is it too late to edit my recipes for this Thursday?",
        "Could I have two of the {meal2} instead of one {meal2} and one {meal}?",
        "Please set my upcoming meals to all vegetarian options.",
        "My picks for next week got cleared. I'd like the {meal}, {meal2} and {meal3} please.",
        "I'd rather not have the spicy {meal} next week, anything milder is fine.",
    ],
}

# Blunt phrasings that do name the category; used for a minority of tickets
# (real queues have some of these, which keeps the keyword baseline honest).
EXPLICIT_RATE = 0.15

EXPLICIT_INTENTS: dict[str, list[str]] = {
    "refund_request": [
        "Can I get a refund for the {meal}? It was inedible.",
        "I'd like a refund for order {order}, the food was past its best when it arrived.",
        "Please refund order {order}.",
    ],
    "billing_dispute": [
        "I've been charged twice for order {order}.",
        "I was overcharged this week: {amount} instead of {amount2}.",
    ],
    "payment_failed": [
        "My payment failed again for the {date} box and I don't know why.",
        "My card was declined but there's money on it. Can you try again?",
    ],
    "update_payment_method": [
        "I need to update my card details, the old card has expired.",
        "How do I change the payment method on my account to my {card}?",
    ],
    "password_reset": [
        "I forgot my password and the reset email never arrives.",
        "Can you reset my password? I can't get in.",
    ],
    "account_locked": [
        "My account is locked and I can't get in even with the right password.",
        "Why is my account suspended? I haven't done anything.",
    ],
    "cancel_subscription": [
        "Please cancel my subscription effective immediately.",
        "I want to cancel my {product} plan.",
        "I'd like to cancel.",
    ],
    "downgrade_plan": [
        "I'd like to downgrade to {small_plan}.",
        "Can I downgrade my plan to {lo} meals?",
    ],
    "upgrade_plan": [
        "I'd like to upgrade to {big_plan}, please.",
        "How do I upgrade to more meals per week?",
    ],
    "pause_delivery": [
        "Can I pause my deliveries for {weeks} weeks?",
        "Please pause my subscription until {date}.",
    ],
    "shipping_delay": [
        "My box is late again. Where is it?",
        "Why is my delivery delayed? It should have been here {date}.",
    ],
    "lost_package": [
        "I think my box is lost. Tracking says delivered but nothing came.",
        "My package was lost or stolen, it never arrived.",
    ],
    "missing_item": [
        "The {ingredient} was missing from my box.",
        "My {meal} kit is missing from order {order}.",
    ],
    "damaged_item": [
        "My box arrived damaged and the {fresh} was crushed. Please replace it.",
        "The {fresh} was damaged in transit, can you send another?",
    ],
    "bug_report": [
        "Found a bug: the app crashes when I open the shopping list.",
        "Getting an error every time I open my account page on {device}.",
    ],
    "feature_request": [
        "Feature request: let us filter recipes by cuisine.",
        "Suggestion: add a grocery list feature to the app.",
    ],
    "data_export": [
        "How do I export my data? I'd like a copy of everything you have.",
        "I'd like to export my order history and profile data.",
    ],
    "account_deletion": [
        "Please delete my account and all my data.",
        "I want my account deleted under GDPR.",
    ],
    "invoice_request": [
        "I need an invoice for the {date} box.",
        "Can I get a receipt for order {order}?",
    ],
    "tax_question": [
        "Why am I being charged sales tax on food?",
        "What tax rate do you apply to orders in {region}?",
    ],
    "change_address": [
        "I need to change my delivery address to {street}.",
        "Please update my address, I've moved to {city}.",
    ],
    "delivery_instructions": [
        "Can you add delivery instructions to my account? Leave it at the side door please.",
        "Please leave my box on the porch behind the planter.",
    ],
    "promo_code_issue": [
        "My promo code {code} isn't working.",
        "The discount code {code} won't apply.",
    ],
    "gift_card": [
        "How do I redeem a gift card?",
        "I'd like to buy a gift card for a friend.",
    ],
    "allergen_question": [
        "I have a nut allergy. Which recipes are safe for me?",
        "Does the {meal} contain any allergens?",
    ],
    "change_meal_selection": [
        "I'd like to swap one of my recipes for next week.",
        "Can I change my menu selection for {date}?",
    ],
}

# ---------------------------------------------------------------------------
# Surrounding text: neutral context, unrelated asides, openers and closers.
# ---------------------------------------------------------------------------

# Which context pools each category may draw from (shared pools put the
# same vocabulary into near-miss categories).
CONTEXT_GROUPS: dict[str, list[str]] = {
    "money": ["refund_request", "billing_dispute", "payment_failed", "update_payment_method",
              "invoice_request", "tax_question", "promo_code_issue", "gift_card"],
    "login": ["password_reset", "account_locked", "bug_report", "feature_request",
              "data_export", "account_deletion"],
    "plan": ["cancel_subscription", "downgrade_plan", "upgrade_plan", "pause_delivery",
             "change_meal_selection", "billing_dispute", "account_deletion"],
    "delivery": ["shipping_delay", "lost_package", "missing_item", "damaged_item",
                 "change_address", "delivery_instructions", "refund_request"],
    "food": ["allergen_question", "change_meal_selection", "missing_item", "damaged_item",
             "refund_request", "feature_request"],
}

CONTEXTS: dict[str, list[str]] = {
    "any": [
        "I've been with {product} since {year}.",
        "We're on {plan}.",
        "My account is under {email}.",
        "I'm writing on behalf of my mum, who has the account.",
        "I tried the chat first but it kept timing out.",
        "Couldn't find anything in the help centre about this.",
        "Long-time customer, first time contacting you.",
        "Account email is {email} in case you need it.",
        "Second time writing in about this.",
    ],
    "money": [
        "I pay with my {card}.",
        "My weekly total is usually about {amount}.",
        "I was checking my banking app this morning.",
        "This is about the {amount} payment on {date}.",
    ],
    "login": [
        "I'm using the app on my {device}.",
        "I last logged in about a month ago.",
        "I use the same email as always, {email}.",
    ],
    "plan": [
        "We've had the boxes for about {n_months} months now.",
        "Our next box is due {date}.",
        "We're currently on {plan}.",
    ],
    "delivery": [
        "We get our boxes on {weekday}s.",
        "I live in an apartment building with a shared entrance.",
        "This is order {order}.",
        "We're in {city}, if that matters.",
    ],
    "food": [
        "I cook most nights for the family.",
        "We picked the {meal} and the {meal2} this week.",
        "We've been trying a lot of the new recipes lately.",
    ],
}

# Unrelated asides ("also love the app btw"). Many carry another category's
# keywords as a distractor. Each is paired with the labels it must never be
# used for, so an aside never contradicts or muddles the real intent.
ASIDES: list[tuple[str, tuple[str, ...]]] = [
    ("Also love the app btw.", ()),
    ("The recipes lately have been great, by the way.", ()),
    ("Also, a dark mode would be nice someday, but that's for another time.", ("feature_request",)),
    ("(Side note: would love a way to save favourite recipes, not urgent.)", ("feature_request",)),
    ("PS the password reset from last week worked fine, thanks.", ("password_reset", "account_locked")),
    ("My account got locked once last year but you sorted that quickly.", ("account_locked", "password_reset")),
    ("I did think about cancelling last month but I'm glad I stayed.", ("cancel_subscription", "account_deletion")),
    ("The invoice you sent last month was perfect, thanks.", ("invoice_request", "tax_question")),
    ("Your tax breakdown on the receipts is really clear, by the way.", ("tax_question", "invoice_request")),
    ("I've already recommended you to friends and bought my sister a gift card.", ("gift_card",)),
    ("Your promo emails are a bit much lately, to be honest.", ("promo_code_issue",)),
    ("Deliveries have been on time lately, so thanks for that.", ("shipping_delay", "lost_package")),
    ("The app crashed on me once last week too, but it's fine now.", ("bug_report",)),
    ("My address hasn't changed, so no issue there.", ("change_address", "delivery_instructions", "lost_package")),
    ("I downloaded my order history last week for budgeting, which worked great.", ("data_export", "invoice_request")),
    ("My husband deleted his own account last year but I'm keeping mine.", ("account_deletion", "cancel_subscription")),
    ("The last few boxes were in perfect condition, no damage, so this is a one-off.", ("damaged_item", "refund_request")),
    ("Everything else was fine with my last box.", ("missing_item", "damaged_item", "refund_request", "lost_package", "shipping_delay")),
    ("I'm not allergic to anything, so no worries there.", ("allergen_question",)),
    ("My card details are all up to date.", ("update_payment_method", "payment_failed")),
    ("We might go up to more meals later in the year.", ("upgrade_plan", "downgrade_plan", "cancel_subscription")),
    ("We skipped a couple of weeks over the summer and that worked well.", ("pause_delivery", "billing_dispute")),
    ("The new menu choices this week look great.", ("change_meal_selection",)),
    ("The driver is always really friendly, by the way.", ("delivery_instructions", "lost_package")),
    ("Not asking for a refund or anything, the food is usually great.", ("refund_request", "billing_dispute")),
    ("Got charged on time as usual, no problem there.", ("billing_dispute", "payment_failed", "refund_request")),
    ("Unrelated, but the discount code my friend sent me worked perfectly.", ("promo_code_issue", "gift_card")),
]

GREETINGS = [
    "Hi,", "Hello,", "Hi there,", "Hey,", "Hey team,", "Hi {product} team,", "Hello {product},",
    "Good morning,", "Good evening,", "To whom it may concern,", "Dear Sir/Madam,",
    "hi", "Hiya,", "Hello support,", "Hi folks,", "Morning!",
]

CLOSERS = [
    "Thanks in advance.", "Please let me know asap.", "Appreciate the help!",
    "Can someone get back to me today?", "Let me know what you need from me.", "Thanks!",
    "Would appreciate a quick reply.", "Hope you can help.", "Cheers.",
    "Thank you so much.", "Any help appreciated.",
]
# Only for tickets where something went wrong (not for questions or requests).
FRUSTRATED_CLOSERS = [
    "This is really frustrating.", "Not happy tbh.", "Sort it out please.",
    "Honestly expected better.", "Third time this has happened.",
]
COMPLAINT_LABELS = {
    "refund_request", "billing_dispute", "payment_failed", "account_locked", "shipping_delay",
    "lost_package", "missing_item", "damaged_item", "bug_report", "promo_code_issue",
}

SIGNOFFS = [
    "Thanks,\n{name}", "Cheers,\n{name}", "Regards,\n{name}", "Best,\n{name}", "- {name}",
    "{name}", "thx", "Sent from my iPhone", "Kind regards,\n{name} {surname}",
    "Many thanks,\n{name}", "ty",
]

# ---------------------------------------------------------------------------
# Slot values
# ---------------------------------------------------------------------------

# Recipe -> (fresh/perishable items, pantry items, sauce). Kept singular so
# "the {x} was ..." reads correctly.
MEALS: dict[str, tuple[list[str], list[str], str]] = {
    "Honey Garlic Salmon": (["salmon", "broccoli"], ["jasmine rice"], "honey garlic sauce"),
    "Chicken Tikka Bowls": (["chicken", "yogurt"], ["naan bread"], "tikka paste"),
    "Beef Bulgogi Tacos": (["ground beef", "slaw mix"], ["tortilla pack"], "bulgogi sauce"),
    "Mushroom Risotto": (["mushroom pack", "parmesan"], ["arborio rice", "stock pot"], "cream"),
    "Lemon Herb Chicken": (["chicken", "asparagus", "lemon"], ["herb mix"], "herb butter"),
    "Pork Carnitas": (["pork shoulder", "lime"], ["tortilla pack"], "salsa"),
    "Thai Green Curry": (["chicken", "bok choy"], ["jasmine rice"], "coconut milk"),
    "Black Bean Burgers": (["avocado", "cheddar"], ["brioche bun pack", "black bean mix"], "chipotle mayo"),
    "Shrimp Pad Thai": (["shrimp", "bean sprout bag"], ["rice noodle pack", "peanut sachet"], "pad thai sauce"),
    "Teriyaki Tofu Stir-Fry": (["tofu", "broccoli"], ["jasmine rice"], "teriyaki sauce"),
    "Steak and Chimichurri": (["steak", "spinach"], ["sweet potato"], "chimichurri"),
    "Butternut Squash Gnocchi": (["butternut squash", "sage", "parmesan"], ["gnocchi"], "brown butter sauce"),
    "Cajun Chicken Pasta": (["chicken", "cream"], ["penne", "cajun spice blend"], "tomato sauce"),
    "Falafel Pitas": (["cucumber", "feta"], ["pita bread", "falafel mix"], "tahini"),
    "Chipotle Turkey Chili": (["ground turkey", "sour cream"], ["tin of kidney beans"], "chipotle paste"),
    "Korean Cauliflower Bites": (["cauliflower", "spring onion"], ["jasmine rice"], "gochujang sauce"),
}
PLANS = [
    "the Classic box for two", "the Family Box", "the Veggie plan", "Lean & Fit",
    "the Premium box", "the Quick 15 plan", "the 3-meal Classic",
]
PLAN_STEPS = [
    ("the Family Box", "the Classic box for two"), ("5 meals a week", "3 meals a week"),
    ("the Premium box", "the Classic box"), ("4 servings per recipe", "2 servings per recipe"),
    ("the 6-meal plan", "the 4-meal plan"),
]
CARDS = [
    "Visa ending in {d4}", "Mastercard ending {d4}", "Amex ending {d4}",
    "debit card ending {d4}", "new Visa", "card ending in {d4}",
]
DEVICES = ["iPhone 14", "iPhone 12", "Pixel 7", "Samsung S22", "iPad", "Android tablet", "laptop", "Galaxy A52"]
ALLERGENS = ["peanuts", "tree nuts", "sesame", "gluten", "shellfish", "dairy", "soy", "eggs"]
CODES = ["SPRING40", "FRIEND25", "HELLO60", "FREESHIP", "WELCOMEBACK", "FALL50", "PODCAST30", "HARVEST20"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
CITIES = ["Portland", "Austin", "Toronto", "Denver", "Columbus", "Sacramento", "Calgary", "Raleigh", "Madison"]
REGIONS = ["Texas", "California", "Oregon", "Ontario", "British Columbia", "New York", "Florida", "Nova Scotia"]
STREET_NAMES = ["Birch", "Elm", "Harbor", "Maple", "Cedar", "Willow", "Oak Park", "Summit", "Lakeview", "Mill"]
STREET_TYPES = ["Lane", "St", "Ave", "Road", "Drive", "Court", "Blvd"]
FIRST_NAMES = ["Jen", "Mark", "Priya", "Tom", "Aisha", "Carlos", "Linda", "Sam", "Mei", "Derek",
               "Olivia", "Raj", "Fatima", "Greg", "Hannah", "Luis", "Karen", "Ben", "Sofia", "Dave"]
SURNAMES = ["Kowalski", "Nguyen", "Smith", "Patel", "O'Brien", "Garcia", "Chen", "Murphy", "Haddad", "Brooks"]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com"]

# Slots that describe the same fact; a context sentence may not restate a
# fact the intent already gives (e.g. two different plans or amounts).
SLOT_FAMILIES: dict[str, str] = {
    "order": "order", "amount": "amount", "amount2": "amount", "date": "date",
    "plan": "plan", "big_plan": "plan", "small_plan": "plan", "lo": "plan", "hi": "plan",
}

# Texting shorthand applied to some tickets.
SHORTHAND = [
    (r"\byou\b", "u"), (r"\bplease\b", "pls"), (r"\bthanks\b", "thx"), (r"\bI'm\b", "im"),
    (r"\bdon't\b", "dont"), (r"\bcan't\b", "cant"), (r"\bbecause\b", "cuz"), (r"\bare\b", "r"),
    (r"\bit's\b", "its"), (r"\bI've\b", "ive"),
]

# ---------------------------------------------------------------------------
# Keyword baseline: the obvious words a person would pick for each label.
# ---------------------------------------------------------------------------

BASELINE_KEYWORDS: dict[str, list[str]] = {
    "refund_request": ["refund", "money back", "reimburse", "paid back"],
    "billing_dispute": ["charged", "charge", "overcharged", "twice", "billing", "statement", "double", "don't recognise"],
    "payment_failed": ["declined", "failed", "rejected", "didn't go through", "payment", "unsuccessful"],
    "update_payment_method": ["new card", "payment method", "card details", "update card", "change card", "paypal", "apple pay"],
    "password_reset": ["password", "reset", "forgot", "can't remember"],
    "account_locked": ["locked", "lock", "suspended", "blocked", "disabled", "restricted"],
    "cancel_subscription": ["cancel", "unsubscribe", "end my subscription", "stop my subscription", "quit"],
    "downgrade_plan": ["downgrade", "fewer", "smaller", "cheaper", "reduce"],
    "upgrade_plan": ["upgrade", "more meals", "bigger", "larger", "increase"],
    "pause_delivery": ["pause", "skip", "vacation", "holiday", "on hold", "away"],
    "shipping_delay": ["late", "delay", "still waiting", "hasn't arrived", "tracking", "eta"],
    "lost_package": ["lost", "never arrived", "stolen", "never came", "not delivered", "never received"],
    "missing_item": ["missing", "left out", "wasn't in", "not in the box", "forgot to pack"],
    "damaged_item": ["damaged", "broken", "crushed", "spoiled", "leaking", "damage", "smashed"],
    "bug_report": ["bug", "crash", "error", "glitch", "not working", "won't load", "freezes"],
    "feature_request": ["feature", "would be nice", "suggestion", "please add", "would love", "add"],
    "data_export": ["export", "copy of my data", "download", "gdpr", "copy"],
    "account_deletion": ["delete", "deletion", "erase", "remove", "gdpr"],
    "invoice_request": ["invoice", "receipt", "proof of purchase"],
    "tax_question": ["tax", "vat", "gst", "hst"],
    "change_address": ["address", "moved", "moving", "new address", "relocat"],
    "delivery_instructions": ["instructions", "leave", "door", "gate code", "porch", "driver", "note"],
    "promo_code_issue": ["promo", "code", "discount", "coupon"],
    "gift_card": ["gift card", "gift", "voucher", "redeem", "present"],
    "allergen_question": ["allergy", "allergic", "allergen", "contain", "nuts", "gluten", "dairy"],
    "change_meal_selection": ["swap", "choose", "selection", "recipes", "menu", "pick"],
}

_BASELINE_PATTERNS = {
    label: [re.compile(r"\b" + re.escape(kw)) for kw in kws]
    for label, kws in BASELINE_KEYWORDS.items()
}
_MOST_COMMON_LABEL = max(PRIOR_WEIGHTS, key=PRIOR_WEIGHTS.__getitem__)


def keyword_baseline(text: str) -> str:
    """Predict a label by counting keyword hits; highest count wins.

    Ties are broken towards the label that is most common in the queue
    (by prior weight); no hits at all falls back to the most common label.
    """
    lowered = text.lower()
    scores = {
        label: sum(len(p.findall(lowered)) for p in patterns)
        for label, patterns in _BASELINE_PATTERNS.items()
    }
    best = max(scores.values())
    if best == 0:
        return _MOST_COMMON_LABEL
    tied = [label for label, score in scores.items() if score == best]
    return max(tied, key=PRIOR_WEIGHTS.__getitem__)


# ---------------------------------------------------------------------------
# Slot filling
# ---------------------------------------------------------------------------


class _Slots(dict):
    """Template slots drawn lazily from ``rng`` and cached per ticket."""

    def __init__(self, rng: random.Random):
        super().__init__(product=PRODUCT)
        self.rng = rng

    # Paired slots that must differ ("it should be {num} not {num2}").
    SIBLINGS = {"amount": "amount2", "amount2": "amount", "num": "num2", "num2": "num",
                "unit": "unit2", "unit2": "unit", "month": "month2", "month2": "month"}

    def __missing__(self, key: str) -> str:
        value = self._draw(key)
        while value == self.get(self.SIBLINGS.get(key, "")):
            value = self._draw(key)
        self[key] = value
        return value

    def _draw(self, key: str) -> str:
        r = self.rng
        if key == "order":
            digits = r.randint(100000, 999999)
            return r.choice([f"#{digits}", f"HV-{digits}", f"#HV{digits}", str(digits)])
        if key in ("amount", "amount2"):
            value = r.choice([47.96, 59.94, 71.92, 89.90, 62.93, 119.88, 35.97, 79.92, 54.95])
            value = round(value + r.choice([0, 0, 0, 8.99, -5.00, 10.00]), 2)
            return f"${value:.2f}"
        if key == "small_amount":
            return f"${r.uniform(2.5, 14.0):.2f}"
        if key == "date":
            return _draw_date(r)
        if key in ("month", "month2"):
            return r.choice(MONTHS)
        if key == "weekday":
            return r.choice(WEEKDAYS)
        if key == "plan":
            return r.choice(PLANS)
        if key in ("big_plan", "small_plan"):
            big, small = r.choice(PLAN_STEPS)
            self["big_plan"], self["small_plan"] = big, small
            return big if key == "big_plan" else small
        if key in ("lo", "hi"):
            lo = r.randint(2, 3)
            self["lo"], self["hi"] = str(lo), str(lo + r.randint(1, 3))
            return self[key]
        if key in ("meal", "meal2", "meal3"):
            taken = {self.get(k) for k in ("meal", "meal2", "meal3")}
            return r.choice([m for m in MEALS if m not in taken])
        if key in ("fresh", "sauce", "ingredient"):  # always from {meal}'s recipe
            fresh, pantry, sauce = MEALS[self["meal"]]
            if key == "fresh":
                return r.choice(fresh)
            return sauce if key == "sauce" else r.choice(fresh + pantry + [sauce])
        if key == "card":
            return r.choice(CARDS).format(d4=f"{r.randint(0, 9999):04d}")
        if key == "device":
            return r.choice(DEVICES)
        if key == "allergen":
            return r.choice(ALLERGENS)
        if key == "code":
            return r.choice(CODES)
        if key == "gift_code":
            chars = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
            block = lambda: "".join(r.choice(chars) for _ in range(4))  # noqa: E731
            return f"GC-{block()}-{block()}"
        if key == "pct":  # matches the code's number when it has one ("SPRING40")
            digits = "".join(ch for ch in self["code"] if ch.isdigit())
            return f"{digits}%" if digits else r.choice(["20%", "25%", "30%", "40%", "50%"])
        if key == "city":
            return r.choice(CITIES)
        if key == "region":
            return r.choice(REGIONS)
        if key == "street":
            return f"{r.randint(2, 990)} {r.choice(STREET_NAMES)} {r.choice(STREET_TYPES)}"
        if key in ("num", "num2"):
            return str(r.randint(2, 300))
        if key in ("unit", "unit2"):
            return f"{r.randint(1, 12)}{r.choice('ABCDEF')}"
        if key == "zip":
            return f"{r.randint(10000, 99999)}"
        if key == "pin":
            return r.choice(["#", "*", ""]) + f"{r.randint(1000, 9999)}"
        if key == "weeks":
            return r.choice(["2", "3", "two", "three", "4"])
        if key == "days":
            return r.choice(["3", "4", "five", "6"])
        if key == "n_months":
            return str(r.randint(2, 30))
        if key == "year":
            return str(r.randint(2018, 2024))
        if key == "name":
            return r.choice(FIRST_NAMES)
        if key == "surname":
            return r.choice(SURNAMES)
        if key == "email":
            first = self["name"].lower()
            last = r.choice(SURNAMES).lower().replace("'", "")
            sep = r.choice(["", ".", "_"])
            return f"{first}{sep}{last}{r.randint(1, 99)}@{r.choice(EMAIL_DOMAINS)}"
        raise KeyError(key)


def _draw_date(r: random.Random) -> str:
    month = r.choice(MONTHS)
    day = r.randint(1, 28)
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return r.choice([
        f"{month} {day}", f"{month[:3]} {day}{suffix}", f"{month} {day}{suffix}",
        f"{MONTHS.index(month) + 1}/{day}", r.choice(WEEKDAYS),
    ])


# ---------------------------------------------------------------------------
# Composition and noise
# ---------------------------------------------------------------------------


_SLOT_RE = re.compile(r"{(\w+)}")


def _slot_families(template: str) -> set[str]:
    return {SLOT_FAMILIES[s] for s in _SLOT_RE.findall(template) if s in SLOT_FAMILIES}


def _pick_context(rng: random.Random, label: str, intent_template: str) -> str | None:
    """A neutral scene-setting sentence that does not clash with the intent."""
    taken = _slot_families(intent_template)
    groups = [g for g, members in CONTEXT_GROUPS.items() if label in members]
    pools = [CONTEXTS["any"]] + [CONTEXTS[g] for g in groups]
    options = [c for c in rng.choice(pools) if not (_slot_families(c) & taken)]
    return rng.choice(options) if options else None


def _pick_aside(rng: random.Random, label: str) -> str:
    allowed = [text for text, banned in ASIDES if label not in banned]
    return rng.choice(allowed)


def _typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: swap, drop or double a letter inside the word."""
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _add_typos(rng: random.Random, text: str, count: int) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for i in rng.sample(candidates, min(count, len(candidates))):
        words[i] = _typo(rng, words[i])
    return " ".join(words)


def _roughen(rng: random.Random, sentences: list[str]) -> list[str]:
    """Apply customer-style noise to the body sentences."""
    if rng.random() < 0.15:
        sentences = [_apply_shorthand(s) for s in sentences]
    if rng.random() < 0.35:
        idx = rng.randrange(len(sentences))
        sentences[idx] = _add_typos(rng, sentences[idx], rng.randint(1, 2))
    if rng.random() < 0.2:
        sentences = [s.rstrip(".") for s in sentences]
    return sentences


def _apply_shorthand(sentence: str) -> str:
    for pattern, repl in SHORTHAND:
        sentence = re.sub(pattern, repl, sentence, flags=re.IGNORECASE)
    return sentence


def _compose(rng: random.Random, label: str) -> str:
    """Build one ticket text for ``label``."""
    slots = _Slots(rng)
    fill = lambda template: template.format_map(slots)  # noqa: E731

    pool = EXPLICIT_INTENTS if rng.random() < EXPLICIT_RATE else INTENTS
    intent_template = rng.choice(pool[label])
    intent = fill(intent_template)
    if rng.random() < 0.06:  # shouting
        intent = intent.upper().removesuffix(".") + rng.choice(["!", "!!", "!!!"])
    body = [intent]
    context = _pick_context(rng, label, intent_template) if rng.random() < 0.5 else None
    if context is not None:
        body.insert(0 if rng.random() < 0.75 else 1, fill(context))
    if rng.random() < 0.45:
        aside = _pick_aside(rng, label)
        body.insert(0 if rng.random() < 0.2 else len(body), aside)
    if rng.random() < 0.35:
        frustrated = label in COMPLAINT_LABELS and rng.random() < 0.4
        body.append(rng.choice(FRUSTRATED_CLOSERS if frustrated else CLOSERS))
    body = _roughen(rng, body)

    email_style = rng.random() < 0.4
    sep = "\n\n" if email_style else " "
    parts = []
    if rng.random() < (0.85 if email_style else 0.35):
        parts.append(fill(rng.choice(GREETINGS)))
    parts.append(" ".join(body))
    if rng.random() < (0.85 if email_style else 0.2):
        signoff = fill(rng.choice(SIGNOFFS))
        parts.append(signoff if email_style else signoff.replace("\n", " "))
    text = sep.join(parts)
    if rng.random() < 0.15:
        text = text.lower()
    return text


# ---------------------------------------------------------------------------
# Label sampling and public generator
# ---------------------------------------------------------------------------


def _label_counts(weights: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder apportionment of ``total`` over ``weights`` (each >= 1)."""
    norm = sum(weights.values())
    exact = {k: total * w / norm for k, w in weights.items()}
    counts = {k: max(1, int(v)) for k, v in exact.items()}
    by_remainder = sorted(weights, key=lambda k: (exact[k] - int(exact[k]), k), reverse=True)
    i = 0
    while sum(counts.values()) < total:
        counts[by_remainder[i % len(by_remainder)]] += 1
        i += 1
    return counts


def _split_labels(rng: random.Random, weights: dict[str, float], size: int) -> list[str]:
    labels = [k for k, c in _label_counts(weights, size).items() for _ in range(c)]
    rng.shuffle(labels)
    return labels[:size]  # tiny sizes: not every label fits


_MAX_RETRIES = 1000


def generate_tickets(
    seed: int = 0, n_train: int = 2400, n_test: int = 600
) -> tuple[list[dict], list[dict]]:
    """Return ``(train, test)`` lists of ``{"id", "text", "label"}`` tickets.

    Deterministic in ``seed``. Every text is unique across both splits, so
    train and test never share a ticket text.
    """
    rng = random.Random(seed)
    weights = {k: w * rng.uniform(0.85, 1.15) for k, w in PRIOR_WEIGHTS.items()}
    seen: set[str] = set()
    splits = []
    for split, size in (("train", n_train), ("test", n_test)):
        tickets = []
        for i, label in enumerate(_split_labels(rng, weights, size)):
            text = _compose(rng, label)
            for _ in range(_MAX_RETRIES):
                if text not in seen:
                    break
                text = _compose(rng, label)
            else:
                raise ValueError("too few distinct tickets possible; reduce n_train/n_test")
            seen.add(text)
            tickets.append({"id": f"{split}-{i:05d}", "text": text, "label": label})
        splits.append(tickets)
    return splits[0], splits[1]
