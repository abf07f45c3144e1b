"""The near-miss guard: each category it must refuse, and paraphrases it must let through."""

import json
from pathlib import Path

import pytest

from tasks.settings import Settings
from webapi.cache.calibrate import Pair
from webapi.cache.guard import conflict, judge, tokens
from webapi.cache.wordnet import WordNet, wordnet

NEAR_MISSES = [
    ("number", "What is 2 + 2?", "What is 2 + 3?"),
    ("number", "List the top 5 movies of 2019", "List the top 10 movies of 2019"),
    ("number", "What year did World War II end?", "What year did World War I end?"),
    ("number", "How much flour is in 1/4 cup?", "How much flour is in 4 cups?"),
    ("number", "what should I text my crush after our 1st date", "what should I text my crush after our 2nd date"),
    ("negation", "Which foods are gluten free?", "Which foods are not gluten free?"),
    ("negation", "I can eat this", "I can't eat this"),
    ("negation", "Why is my cat eating grass?", "Why is my cat not eating grass?"),
    ("negation", "My dog eats his food fast", "My dog doesn't eat his food fast"),
    ("negation", "My alarm is ringing but there's no fire", "My alarm isn't ringing but there's a fire"),
    ("opposite", "turn on dark mode", "turn off dark mode"),
    ("opposite", "How do I enable two-factor authentication?", "How do I disable two-factor authentication?"),
    ("opposite", "Sort the list in ascending order", "Sort the list in descending order"),
    ("opposite", "What are the advantages of nuclear power?", "What are the disadvantages of nuclear power?"),
    ("opposite", "get the first element of an array", "get the last element of an array"),
    ("direction", "Convert JSON to XML", "Convert XML to JSON"),
    ("direction", "dog bit man", "man bit dog"),
    ("direction", "Subtract 7 from 20", "Subtract 20 from 7"),
    ("direction", "flights from Paris to Rome", "flights from Rome to Paris"),
    ("entity", "What is the capital of France?", "What is the capital of Spain?"),
    ("entity", "how do i sort a list in python", "how do i sort a list in java"),
    ("entity", "Who founded Tesla?", "Who founded SpaceX?"),
    ("language", "translate good morning to french", "translate good morning to german"),
    ("unit", "Convert 100 °F to Celsius", "Convert 100 °C to Fahrenheit"),
    ("unit", "How far is 10 km?", "How far is 10 miles?"),
    ("unit", "What is 60 mph in km/h?", "What is 60 km/h in mph?"),
    ("substitution", "How long should I boil raw shrimp?", "How long should I boil cooked shrimp?"),
    ("substitution", "What should I feed my puppy?", "What should I feed my kitten?"),
    ("substitution", "Why did the startup succeed?", "Why did the startup fail?"),
    ("substitution", "How much protein is in a cup of lentils?", "How much fiber is in a cup of lentils?"),
    ("substitution", "Explain gravity for a child", "Explain gravity for a physicist"),
    ("substitution", "Who won the World Cup yesterday?", "Who will win the World Cup tomorrow?"),
    ("insertion", "Easy chocolate chip cookie recipe", "Easy vegan chocolate chip cookie recipe"),
    ("insertion", "What's a healthy daily calorie intake?", "What's a healthy daily calorie intake for a dog?"),
    ("insertion", "How long should I boil an egg?", "How long should I boil an egg at high altitude?"),
    ("direction", "What should I do if my dog bites another dog?", "What should I do if another dog bites my dog?"),
    ("direction", "How do I sharpen a dull knife?", "How do I dull a sharp knife?"),
    ("substitution", "How do I tighten a loose bolt?", "How do I loosen a tight bolt?"),
    ("substitution", "What should a teacher say to a parent?", "What should a parent say to a parent?"),
    ("negation", "How do I make my phone update apps?", "How do I prevent my phone from updating apps?"),
    ("substitution", "Cheapest way from the airport to downtown", "Fastest way from the airport to downtown"),
    ("direction", "My dog bit me", "I bit my dog"),
    ("insertion", "Do birds fly?", "Do all birds fly?"),
    ("state", "Is it safe to drink boiling water?", "Is it safe to drink boiled water?"),
    ("state", "How do I care for a healing piercing?", "How do I care for a healed piercing?"),
    ("insertion", "How do I renew my passport?", "How do I renew my passport urgently?"),
    ("insertion", "How to grow basil", "How to grow basil indoors"),
    ("insertion", "How long does it take to get a visa?", "How long does it take to get an expedited visa?"),
    ("insertion", "How do I get a pilot's license?", "How do I get a commercial pilot's license?"),
    ("insertion", "How do I sort a list in Python?", "How do I sort a list in Python by date?"),
    ("scope", "does every state require a front license plate", "which states require a front license plate"),
    ("insertion", "how do I take a screenshot on a mac", "how do I take a scrolling screenshot on a mac"),
    ("substitution", "Is it OK to give a baby warm water?", "Is it OK to give a baby hot water?"),
    ("insertion", "what's the best phone for photography", "what's the best budget phone for photography"),
    ("insertion", "how to clean a mattress", "how to clean a memory foam mattress"),
    ("insertion", "side effects of melatonin", "long-term side effects of melatonin"),
    ("insertion", "is it safe to use a space heater", "is it safe to use a space heater overnight"),
    ("insertion", "how to grow tomatoes", "how to grow tomatoes hydroponically"),
    ("insertion", "what's the average salary for a nurse", "what's the average starting salary for a nurse"),
    ("time", "what movies are in theaters right now", "what movies are coming to theaters next month"),
    ("time", "signs my water heater is about to fail", "signs my water heater has already failed"),
    ("time", "what was the weather like in denver last weekend", "what is the weather like in denver this weekend"),
    ("scope", "should I cut back all of my perennials in fall", "which of my perennials should I cut back in fall"),
    ("insertion", "Is coffee bad for you?", "Is coffee bad for you during pregnancy?"),
    ("insertion", "Is it safe to use retinol?", "Is it safe to use retinol while pregnant?"),
    ("negation", "Give me a list of drinks high in caffeine", "Give me a list of caffeine-free drinks"),
    ("negation", "What happens if I pay my bill on time?", "What happens if I fail to pay my bill on time?"),
    ("negation", "My houseplant gets too much sunlight", "My houseplant is lacking sunlight"),
    ("direction", "What should I do if my dog bit someone?", "What should I do if someone's dog bit me?"),
    ("substitution", "What should a guest bring to a dinner party?", "What should a host bring to a dinner party?"),
    ("negation", "Is it legal to fly a drone over a park?", "Is it illegal to fly a drone over a park?"),
    ("negation", "Why do cats like water?", "Why do cats dislike water?"),
    ("negation", "Pancake recipe with milk", "Pancake recipe free of milk"),
    ("direction", "how to merge develop into my release branch", "how to merge my release branch into develop"),
    ("direction", "Can blood type B give to type A?", "Can blood type A give to type B?"),
    ("direction", "regex to replace commas with semicolons", "regex to replace semicolons with commas"),
    ("direction", "I have 300 ml of milk, how many grams is it?", "I have 300 g of milk, how many ml is it?"),
    ("direction", "Can I give my cat's dewormer to my rabbit?", "Can I give my rabbit's dewormer to my cat?"),
    ("direction", "Can I use my Tesla to charge a neighbour's car?", "Can I use a neighbour's car to charge my Tesla?"),
    ("direction", "Can my neighbor sue me over a fallen tree?", "Can I sue my neighbor over a fallen tree?"),
    ("insertion", "How do I copy my photos?", "How do I copy my photos to a USB stick?"),
    ("insertion", "Write a resume summary", "Write a resume summary as a recent graduate"),
    ("substitution", "What causes migraines?", "What cures migraines?"),
    ("negation", "What can I use other than butter in brownies?", "What can I use with butter in brownies?"),
    ("negation", "Sugarless cookies for a party", "Sugary cookies for a party"),
    ("opposite", "Should I quit the gym this winter?", "Should I start the gym this winter?"),
    ("direction", "Did Arsenal beat Chelsea on Sunday?", "Did Chelsea beat Arsenal on Sunday?"),
    ("direction", "Can my kid catch the flu from me?", "Can I catch the flu from my kid?"),
    ("direction", "Should I feed my kitten adult cat food?", "Should I feed my adult cat kitten food?"),
    ("substitution", "Can I sand drywall mud that is still damp?", "Can I sand drywall mud that has fully cured?"),
    ("time", "Is coffee taxed in Kenya?", "Was coffee ever taxed in Kenya?"),
    ("time", "What was the price of gas in Ohio?", "What will the price of gas be in Ohio?"),
    # Shorthand is read as a word only where the other prompt has that word; "nt" negates, no slip.
    ("unit", "How many ml is 5 cc of medicine?", "How many ml is 5 tsp of medicine?"),
    ("negation", "Things you should do on a first date", "Things you shouldn't do on a first date"),
    ("number", "Who was Henry VIII's first wife?", "Who was Henry VII's first wife?"),
    ("substitution", "Can a contract be cancelled after signing?", "Should a contract be cancelled after signing?"),
    # A small word put in the place of its reverse.
    # Runs exchanged that begin with a word both prompts have there ("my sister" / "me").
    ("direction", "What if my sister earns more than me?", "What if I earn more than my sister?"),
    ("direction", "Why is my cat attacked by my dog?", "Why does my cat attack my dog?"),  # the passive read as active
    ("direction", "I'm suing my neighbour over a fence, what now?", "My neighbour is suing me over a fence, what now?"),
    ("direction", "Is my son being bullied by his teacher?", "Is my son bullying his teacher?"),
    ("direction", "Can a cat be allergic to humans?", "Can a human be allergic to cats?"),
    ("opposite", "Should I sleep with my retainer in?", "Should I sleep with my retainer out?"),
    ("opposite", "Best hotels in Rome", "Best hotels near Rome"),
    ("opposite", "Arguments for school uniforms", "Arguments against school uniforms"),
    ("opposite", "What to do if I'm locked out of my house", "What to do if I'm locked in my house"),
    ("insertion", "How do I merge cells in Excel?", "How do I merge cells in Excel using a macro?"),
    ("insertion", "How do I bring a puppy home?", "How do I bring a puppy home if we already have an old cat?"),
    ("opposite", "Why did my sourdough turn out dense and heavy?", "Why did my sourdough turn out airy and light?"),
    ("insertion", "Easy bread recipe for beginners", "Easy keto bread recipe for beginners"),  # a term WordNet lacks
    ("scope", "Do all credit cards charge foreign transaction fees?", "Do only some credit cards charge foreign fees?"),
    ("scope", "Should I water every plant on the balcony daily?", "Should I water most plants on the balcony daily?"),
    ("quantity", "How long is the Brooklyn Bridge?", "How tall is the Brooklyn Bridge?"),
    # The review's: an entity is not its WordNet synonym, an agent is not an action, "2" before a
    # noun is a number, a greeting may start a name, "a part" is not "apart".
    ("entity", "What is the capital of china", "What is the capital of taiwan"),
    ("entity", "What is the weather on Mars?", "What is the weather in March?"),
    ("substitution", "Who is the director of Titanic?", "What is the direction of Titanic?"),
    ("number", "Recipe for 2 people", "Recipe for people"),
    ("entity", "Who sang Hey Jude?", "Who sang Jude?"),
    ("substitution", "How to take apart a laptop", "How to take a part from a laptop"),
    ("substitution", "Write an essay for a high school history class", "Write an essay for a graduate history seminar"),
    (
        "substitution",
        "Explain the French Revolution for a middle school report",
        "Explain the French Revolution for a graduate history seminar",
    ),
    # A verb one step more specific, adjectives WordNet clusters in rare senses: each a different question.
    ("substitution", "How long can I keep rare steak in the fridge?", "How long can I keep raw steak in the fridge?"),
    ("substitution", "What's the deepest lake in the US?", "What's the largest lake in the US?"),
    ("substitution", "Should I take a double dose of ibuprofen?", "Should I take a second dose of ibuprofen?"),
    # What the question word stands for: the doer or the one done to.
    ("direction", "Who did the Romans defeat at Cannae?", "Who defeated the Romans at Cannae?"),
    ("direction", "Who was the Spanish Armada defeated by?", "Who was defeated by the Spanish Armada?"),
    ("direction", "What do foxes eat?", "What eats foxes?"),
    ("negation", "dog eating but not drinking water", "dog not eating but drinking water"),
    ("negation", "How do I keep my roses growing in the fall?", "How do I keep my roses from growing in the fall?"),
    ("direction", "My cat is scared of my dog, why?", "Why is my dog scared of my cat?"),
]

PARAPHRASES = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("How do I enable dark mode?", "How do I turn on dark mode?"),
    ("Give me five ideas for a party", "give me 5 ideas for a party"),
    ("flights from Paris to Rome", "flights to Rome from Paris"),
    ("Which is better, Python or JavaScript?", "Which is better, JavaScript or Python?"),
    ("How do I reverse a string in JavaScript?", "javascript reverse a string how"),
    ("how to make bread without yeast", "Can you give me a bread recipe that doesn't use yeast?"),
    ("Convert 10 km to miles", "how many miles is 10 kilometers?"),
    ("What are the pros and cons of remote work?", "What are the advantages and disadvantages of remote work?"),
    ("Where can I purchase cheap flights to Rome?", "Where can I buy cheap flights to Rome?"),
    ("How do I remove rust from my car?", "How do I remove rust from my automobile?"),
    ("how do i boil an egg", "How do I boil eggs?"),
    ("What is a simple way to lose weight?", "What is an easy way to lose weight?"),
    ("Can you recommend a good personal finance book?", "Good personal finance book recommendations?"),
    ("Give me ideas for a child's birthday party", "Give me ideas for a kid's birthday party"),
    ("What is the capital of Canada?", "What's the capital city of Canada?"),
    ("Suggest names for a black cat", "Suggest some names for a black cat, please"),
    ("What does HTTP stand for?", "What does the acronym HTTP stand for?"),
    ("How do I center a div with CSS?", "How can I center a div using CSS?"),
    ("Who wrote The Great Gatsby?", "Hey, out of curiosity, who wrote The Great Gatsby?"),
    ("How do I fold a fitted sheet?", "Folding fitted sheets - how?"),
    ("Explain the difference between TCP and UDP", "TCP vs UDP - what's the difference?"),
    ("How could I learn to juggle?", "How do I learn to juggle?"),
    ("Hi! How do I clear my browser cache?", "How do I clear my browser cache?"),
    ("What were the causes of World War II?", "I was wondering, what were the causes of World War II?"),
    ("What are the symptoms of the measles?", "What are measles symptoms?"),
    ("How do I sort a dictionary in Python?", "How can I sort a Python dictionary?"),
    ("How often should I replace my bike's chain?", "How often should I replace the chain on my bike?"),
    ("Best things to do in the city of Lisbon", "Best things to do in Lisbon"),
    ("Thanks in advance! How do I unblock a sink?", "How do I unblock a sink?"),
    ("is it safe 2 swim after eating", "Is it safe to swim after eating?"),
    ("how can i tell if a pinapple is ripe", "How can I tell if a pineapple is ripe?"),
    ("When I start a new job, how do I ask for a raise?", "How do I ask for a raise when I start a new job?"),
    ("My bike was stolen by a neighbour, what now?", "A neighbour stole my bike, what now?"),
    ("Nut-free snacks for school", "Snacks for school with no nuts"),
    ("Best wireless earbuds for running", "Best earbuds without wires for running"),
    ("Fish market opening hours", "Opening hours of the fish market"),
    ("Gently, how do I tell my friend she's late too often?", "How do I gently tell my friend she's late too often?"),
    ("u can freeze cooked rice?", "Can you freeze cooked rice?"),
    ("What's the avg rent in Leeds?", "What's the average rent in Leeds?"),
    ("Best tooth brush for braces", "Best toothbrush for braces"),
    ("How can I make my small kitchen look bigger?", "How can I make my tiny kitchen look larger?"),
    ("How many ounces are in a pint?", "how many oz in a pint"),
    ("When should I plant garlic in the fall?", "When should I plant garlic in autumn?"),
    ("How do bees make honey?", "How do bees make their honey?"),
    ("how 2 make pancakes without eggs", "How do I make pancakes without eggs?"),
    ("is it normal 4 my cat to sneeze a lot", "Is it normal for my cat to sneeze a lot?"),
    ("Is it OK to freeze cooked pasta?", "Can you freeze cooked pasta?"),
    ("How do I reset my Wi-Fi router?", "how do i reset my wifi router"),
    ("What is the average rainfall in Dublin in Nov?", "What is the average rainfall in Dublin in November?"),
    ("What is Picasso's most famous painting?", "What is the most famous painting by Picasso?"),
    ("How big is a blue whale?", "How large is a blue whale?"),
    ("List all the planets in the solar system", "Which planets are in the solar system?"),
    ("How do I fix a slow laptop?", "How do I speed up my laptop?"),  # a problem and its goal
    ("How do I remember names better?", "How do I stop forgetting names?"),
    ("Write a story for small scared kids", "Write a story for little frightened children"),
    ("How long do dogs live?", "How old do dogs get?"),
    ("Find me a really good pizza place", "Find me a realy good pizza place"),
    # A verb and its particles as one verb.
    ("Why is my cat throwing up after eating?", "Why is my cat vomiting after eating?"),
    ("How to get rid of fruit flies in the kitchen", "How to eliminate fruit flies in the kitchen"),
    # The passive voice, with and without its agent.
    ("When should tomatoes be fertilized?", "When should I fertilize tomatoes?"),
    ("Who was the Spanish Armada defeated by?", "Who defeated the Spanish Armada?"),
    ("How was the Great Wall of China built?", "How did people build the Great Wall of China?"),
    ("Is it normal for a 2 year old to not talk much?", "is it normal for a two year old to not talk much"),
    ("whats a good grocery budget", "What's a good grocery budget?"),
    ("How do I stop my dog from barking at night?", "How can I prevent my dog from barking at night?"),
    ("How do I keep bananas from ripening too fast?", "How do I stop bananas from ripening too quickly?"),
    ("What plants do deer eat?", "Which plants do deer eat?"),  # "plants" is no verb here
    ("Who owns Instagram?", "Who does Instagram belong to?"),  # another verb, its roles the other way round
    ("I don't think my cat is eating enough", "I think my cat is not eating enough"),
    ("Is it bad that my dog eats quickly?", "Is it bad that my dog eats fast?"),
    # Shorthand, stretched words and slips, read as the other prompt spells them.
    ("Is it normal for a 3 year old to wake at night?", "is it normal for a 3yo to wake at night"),
    ("Best way to pay off credit card debt", "best way to pay off cc debt"),
    ("How do I sleep through the night?", "how do i sleep thru the night"),
    ("Why is my fridge so loud?", "why is my fridge sooo loud"),
    ("Is it worth getting a masters degree?", "is it worth gettin a masters degree"),
    ("What is the recommended dose of zinc?", "whats the recomended dose of zinc"),
    ("Can I be fired for discussing pay with coworkers?", "can i be fired for discussing pay w/ coworkers"),
    ("My husband is always criticized by my mother", "My mother always criticizes my husband"),
    ("How long does it take to renew a passport?", "How many weeks will it take to renew a passport?"),
    ("How is brown rice cooked?", "How do you cook brown rice?"),  # the subject between "is" and its participle
    ("Can I eat rice, beans and corn on a keto diet?", "Can I eat corn, beans and rice on a keto diet?"),  # a list
    ("Who discovered penicillin?", "By whom was penicillin discovered?"),
    # A "not" in context a rewording adds, about words the other prompt lacks.
    ("Explain what a mutual fund is", "I hear about mutual funds but I don't know what they are. Can you explain?"),
    ("Substitute for sour cream?", "Recipe needs sour cream and I don't have any. What can I use instead?"),
    # Names in lower case, in the plural, as a possessive.
    ("Do I need a visa for Japan as a U.S. citizen?", "do i need a visa for japan as a us citizen"),
    ("Explain what a Roth IRA is", "What are Roth IRAs?"),
    ("What is the capital of Peru?", "Which city is Peru's capital?"),
    ("What documents do I need to renew my US passport?", "renewing my American passport, what documents do I need?"),
    ("What does a 500 error mean exactly?", "What does a 500 error mean?"),  # a hedge
    ("How long does it take to learn piano, roughly?", "How long does it take to learn piano?"),
    ("How to remove a coffee stain from a couch", "How to remove a coffee stain from a sofa"),  # a role's synonym
    ("Good laptop under $500?", "good laptop under 500 bucks"),
    ("How is my tax refund calculated?", "How do they calculate my tax refund?"),  # nobody in particular
    ("What time zone is Denver in?", "what timezone is denver in"),
    ("I can't log into my bank account", "I cant log in to my bank account"),
    ("I have no appetite, what should I do?", "I don't have any appetite, what should I do?"),
    ("I'm overwhelmed by my workload, any advice?", "My workload overwhelms me, any advice?"),
    ("I was rear-ended by a truck at a red light, who pays?", "A truck rear-ended me at a red light, who pays?"),
    ("I've been blocked by my friend on Snapchat", "My friend blocked me on Snapchat"),
    ("Why won't my car start?", "Why didn't my car start?"),
    ("What's the recommended dose of ibuprofen?", "What's the dose of ibuprofen?"),
    # A modal that only makes the passive.
    ("How can grease stains be removed from a driveway?", "How do I remove grease stains from a driveway?"),
    # A request framed by a noun asks how to do it.
    ("how do i build a raised garden bed", "give me the steps for building a raised garden bed"),
    ("explain the process for opening a roth ira", "how do I open a roth ira"),
    ("tips for keeping basil alive indoors", "advice on keeping basil alive indoors"),
    ("what should i pack if they're picky eaters", "what should i pack if theyre picky eaters"),  # no apostrophe
    ("I'd like a recipe for banana bread", "i would like a recipe for banana bread"),
    ("what's a good substitute for buttermilk", "what's a good replacement for buttermilk"),  # a fourth sense
    ("help me pick a laptop for college", "help me choose a laptop for college"),
    ("how do I ask for a raise at work", "how do I request a raise at work"),
    ("How do I make a paper airplane?", "Making paper airplanes?"),  # an "-ing" form opening a prompt
    ("Define the word 'serendipity'.", "define serendipity"),
    ("Why do cats purr?", "What is the reason cats purr?"),
    ("how do I teach my dog to sit", "ways to teach my dog to sit"),
    ("how to keep kids entertained on a road trip", "ideas for keeping kids entertained on a road trip"),
    ("how do I make cold brew at home", "give me a recipe for making cold brew at home"),
    ("how to remove rust from a bike chain", "how to get rust off a bike chain"),
    ("best way to clean grout in the bathroom", "best method to clean grout in the bathroom"),
    ("how do I tell my professor I'll miss the deadline", "how do i tell my prof ill miss the deadline"),
    ("what's a good budgeting app for couples", "what's a good budgeting application for couples"),
    ("how to remove a coffee stain from a shirt", "how to get a coffee stain out of a shirt"),
    ("Any tips on growing basil indoors?", "How can I grow basil indoors?"),
    ("What year did World War One start?", "what year did world war 1 start"),
    ("how many calories do I burn walking a mile", "how many calories do I burn walking 1 mile"),
    ("what size drill bit for a 1/4 inch wall anchor", 'What size drill bit do I need for a 1/4" wall anchor?'),
    ("Can u tell me what causes hiccups", "what causes hiccups anyway?"),
    ("Do hydrangeas need full sun?", "do hydrangeas need full sun or not"),
    ("what happens if I miss jury duty", "What happens if I miss jury duty? Asking for a friend"),
    ("how do I fix a leaky faucet", "how do I repair a leaking faucet"),
    ("can I get a refund on a nonrefundable booking", "Can I get a refund on a non-refundable booking?"),
    ("foods to avoid with acid reflux", "foods to stay away from with acid reflux"),
    ("good sources of omega 3 besides fish", "good sources of omega 3 other than fish"),
    ("how do i sell my used car privately", "how do i sell my second-hand car privately"),  # no ordinal
    ("how is an array different from a linked list", "how is a linked list different from an array"),
    ("list all the states that require a front plate", "which states require a front plate"),  # asks which
    ("Is coffee bad for your heart?", "Is drinking coffee bad for the heart?"),  # an "-ing" form as a verb
    ("what's the next step after a job offer today", "what is the next step after a job offer today"),  # no time
]


@pytest.mark.parametrize(("category", "a", "b"), NEAR_MISSES)
def test_each_kind_of_near_miss_is_refused(category, a, b):
    assert conflict(a, b) is not None, f"{category}: {a!r} vs {b!r}"
    assert conflict(b, a) is not None  # symmetric


@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_paraphrases_pass(a, b):
    assert conflict(a, b) is None
    assert conflict(b, a) is None


def test_the_guard_on_its_dev_sets_at_the_default_threshold():
    """The figures the default was calibrated to (llm-cache calibrate, README); held-out figures: bench/."""
    dev_sets = sorted((Path(__file__).resolve().parent.parent / "data").glob("cache_pairs_dev*.jsonl"))
    lines = [line for path in dev_sets for line in path.read_text().splitlines()]
    pairs = [json.loads(line) for line in lines if line.strip()]
    settings = Settings()

    def cache_serves(p: dict) -> bool:
        verdict = judge(p["a"], p["b"])
        pair = Pair(p["a"], p["b"], p["label"] == "hit", p["similarity"], verdict.refusal, reworded=verdict.reworded)
        return pair.served(*settings.cache_bars(with_model=False)[:2])  # the rules alone

    served = [p for p in pairs if cache_serves(p)]
    near_misses = [p for p in pairs if p["label"] == "miss"]
    paraphrases = [p for p in pairs if p["label"] == "hit"]
    assert sum(p["label"] == "miss" for p in served) / len(near_misses) <= 0.0125  # calibrate's --max-false-rate
    assert sum(p["label"] == "hit" for p in served) / len(paraphrases) >= 0.7


def test_a_noun_frames_a_request_only_before_a_verb():
    assert tokens("the steps for building a shed") == ["the", "how", "to", "building", "a", "shed"]
    assert tokens("instructions to build a shed") == ["how", "to", "build", "a", "shed"]
    assert tokens("tips for beginners") == ["tips", "for", "beginners"]  # tips, not a way of doing
    assert tokens("the process of elimination") == ["the", "process", "of", "elimination"]


def test_substitutions_explained_by_wordnet_pass_and_others_do_not():
    net = wordnet()
    assert net.related("buy", "purchase") and net.related("cooked", "cook") and net.related("mice", "mouse")
    assert net.related("recommend", "recommendations")  # derivation
    assert net.related("pick", "choose") and net.related("extract", "remove")  # a way of doing: a troponym
    assert not net.related("bake", "fry") and not net.related("whisper", "shout")  # two ways of one deed
    assert net.generalises("city", "Lisbon") and net.generalises("virus", "hiv")
    assert not net.generalises("dog", "animal")
    for a, b in [("raw", "cooked"), ("succeed", "fail"), ("cat", "dog"), ("tighten", "loosen"), ("weight", "volume")]:
        assert not net.related(a, b), (a, b)


def test_without_wordnet_every_substitution_is_refused(tmp_path):
    net = WordNet(tmp_path)
    assert not net.loaded
    assert not net.related("buy", "purchase") and net.related("eggs", "eggs")


@pytest.mark.parametrize(
    "prompt",
    ["Please send me the report ASAP", "How do I read a Git Diff output", "Easy GF bread recipe",
     "Tell me about the history of Ur", "Is the Cordless Drill from Bosch good", "?", "", "👍",
     "What year did World War II end?"],
)  # fmt: skip
def test_a_prompt_never_conflicts_with_itself(prompt):
    assert conflict(prompt, prompt) is None


def test_prompts_without_words_are_judged_without_error():
    for a, b in [("?", "hello"), ("", "How do I boil pasta?"), ("👍", "ok"), ("...", "")]:
        assert conflict(a, b) == conflict(b, a)


_FILLER_CLAUSE = (
    "the deposit, the cleaning fee, the key cost, the garden charge, the parking permit, the boiler service, "
    "the window repair, the carpet wash, the paint job, the lock change, the gutter work, the roof patch, "
    "the fence panel and the heating oil"
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # The second review (of the rules added after f5e97bd).
        ("Can a pardon be revoked?", "Has a pardon been revoked?"),  # a modal asks its own question
        ("Should tips be taxed?", "Are tips taxed?"),
        ("best bbq spots in kansas city mo", "best bbq spots in kansas city this month"),  # "mo" is no month
        ("how do i see temp files on my pc", "how do i see the temperature on my pc"),  # not in its place
        ("best libraries for data visualization in r", "best libraries for data visualization"),  # "r" is R
        ("signs of overwatering a succulent", "signs of overwintering a succulent"),  # a changed letter
        ("How do I share my screen in Teams?", "How do I share my screen with my team?"),  # a name's plural
        ("my toddler doesn't talk yet, is that normal", "my toddler speaks, is that normal"),  # "not" on a synonym
        ("should I put on sunscreen and then moisturizer", "should I put on moisturizer and then sunscreen"),
        ("good dad jokes", "good jokes about dads"),
        ("how do I stop my nose bleeding", "how do I prevent my nose from bleeding"),  # stopping is no preventing
        ("will my car be repossessed if I miss one payment", "how do I repossess a car if they miss one payment"),
        # The third review (of the rules after the second).
        ("What did the Pilgrims bring from England to America?", "What brought the Pilgrims from England to America?"),
        ("How much was a stamp, and will the price go up?", "How much is a stamp, and will the price go up?"),
        ("is paying by card cheaper than cash", "is cash cheaper than paying by card"),  # a gerund is no passive
        ("how do I cook rice", "how do I cook rice if I already have a rice cooker"),  # the clause reuses "rice"
        ("benefits of cbd oil for anxiety", "benefits of cod oil for anxiety"),  # a short unknown word is no typo
        (  # two terms exchanged across more terms than a run exchange is searched for
            "Does the landlord owe " + _FILLER_CLAUSE + " while the tenant owes nothing?",
            "Does the tenant owe " + _FILLER_CLAUSE + " while the landlord owes nothing?",
        ),
    ],
)
def test_refusals_the_review_asked_for(a, b):
    assert conflict(a, b) is not None and conflict(b, a) is not None


def test_a_symmetric_or_reads_past_articles():
    assert conflict("should I get a cat or a dog", "should I get a dog or a cat") is None
