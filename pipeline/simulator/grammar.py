"""The simulated teacher's writing: a grammar of well-formed tasks, and answers built from it with defects."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pipeline.core.records import Example
from pipeline.generation.prompts import BLOCK_SEPARATOR, NO_INPUT


@dataclass(frozen=True, slots=True)
class Template:
    """One task shape: `{slot}`s name lists in SLOTS (a trailing digit asks for a second, distinct filler)."""

    category: str
    pattern: str
    input_kind: str  # "" when the task takes no input; otherwise a key of INPUT_BUILDERS
    output_kind: str  # a key of OUTPUT_BUILDERS


@dataclass(frozen=True, slots=True)
class Material:
    """A task input and what its output needs to know about it (a label, listed items, numbers)."""

    text: str = ""
    label: str = ""
    items: tuple[str, ...] = ()
    numbers: tuple[int, ...] = ()
    topic: str = ""  # what a free-text input is about, for outputs of templates without a topic slot


@dataclass(frozen=True, slots=True)
class CodeTask:
    """A small programming task with a working Python solution and a plausible bug."""

    description: str
    name: str
    body: str  # the indented function body, one level deep
    bug: tuple[str, str]  # (correct fragment, buggy fragment) of the body


# Word lists and tables stay packed, several entries a line, rather than one entry a line.
# fmt: off
# Slot fillers are lower-case unless a proper noun, and 1-4 words, so two instantiations of one template
# usually differ in several tokens and stay under the project's ROUGE-L 0.7 near-duplicate threshold.
# None of them may contain a word of the downstream blocklist (image, graph, file, map, plot, draw, ...).
TOPICS: tuple[str, ...] = (
    # science and nature
    "photosynthesis", "the water cycle", "plate tectonics", "black holes", "the immune system", "climate change",
    "ocean acidification", "gene editing", "quantum computing", "renewable energy", "solar power", "wind turbines",
    "nuclear fusion", "vaccines", "antibiotic resistance", "the human microbiome", "volcanoes", "earthquakes",
    "hurricanes", "coral reefs", "tropical rainforests", "biodiversity loss", "the carbon cycle", "electric vehicles",
    "battery recycling", "the periodic table", "chemical bonds", "Newton's laws of motion", "gravity",
    "the speed of light", "dark matter", "the Big Bang", "Mars exploration", "the Moon landing", "space tourism",
    "weather satellites", "weather forecasting", "ocean tides", "the nitrogen cycle", "natural selection",
    "DNA replication", "cell division", "the human heart", "sleep cycles", "memory formation", "the placebo effect",
    "nutrition labels", "food allergies", "fermentation", "bees and pollination", "migratory birds",
    "deep sea creatures", "desert ecosystems", "melting glaciers", "soil erosion", "plastic recycling",
    "home composting", "air pollution", "water purification", "wildfire prevention", "endangered species",
    "invasive species", "wetland conservation", "urban heat islands", "the ozone layer", "solar eclipses",
    "comets and asteroids", "the human brain", "muscle growth", "the digestive system", "blood types",
    "the five senses", "animal camouflage", "octopus intelligence", "whale songs", "mushroom foraging", "tree rings",
    "fossil fuels", "hydroelectric dams", "geothermal energy",
    # technology
    "machine learning", "neural networks", "cloud computing", "cybersecurity", "password managers",
    "two-factor authentication", "open-source software", "blockchain", "cryptocurrency", "3D printing",
    "self-driving cars", "smart home devices", "the internet of things", "5G networks", "data privacy",
    "social media algorithms", "online misinformation", "search engines", "version control", "unit testing",
    "agile project management", "web accessibility", "user experience design", "large language models",
    "customer service chatbots", "warehouse robots", "delivery drones", "wearable fitness trackers", "e-commerce",
    "digital marketing", "search engine optimization", "email newsletters", "podcasting", "streaming services",
    "e-books", "online learning", "coding bootcamps", "spreadsheets", "relational databases", "web APIs",
    "smartphone addiction", "quantum encryption", "virtual reality", "augmented reality", "cloud gaming",
    "digital wallets", "facial recognition", "computer viruses", "the history of the internet", "low-code platforms",
    "microchips", "data centers", "satellite internet", "contactless payments",
    # history and culture
    "the French Revolution", "the Roman Empire", "ancient Egypt", "the Renaissance", "the Industrial Revolution",
    "the printing press", "the Silk Road", "the Cold War", "the civil rights movement", "World War I",
    "the fall of the Berlin Wall", "the Apollo program", "the invention of the telephone", "the ancient Olympics",
    "Greek mythology", "Shakespeare's comedies", "jazz history", "the Harlem Renaissance", "the Ming dynasty",
    "the Aztec Empire", "the Vikings", "medieval castles", "the American Revolution", "the suffrage movement",
    "the Great Depression", "the Marshall Plan", "ancient Greek philosophy", "Stoicism", "the Enlightenment",
    "the Meiji Restoration", "the Inca road system", "the Ottoman Empire", "the Magna Carta", "the Gold Rush",
    "the transcontinental railroad", "the Space Race", "the Black Death", "the Reformation",
    "ancient Rome's aqueducts", "the Mongol Empire", "the history of chocolate", "the history of coffee",
    "the origins of writing", "the invention of paper", "early aviation", "the first vaccines",
    "the abolition of slavery",
    # everyday life and work
    "personal budgeting", "saving for retirement", "meal prepping", "urban gardening", "houseplant care", "minimalism",
    "decluttering", "time management", "procrastination", "morning routines", "remote work", "job interviews",
    "resume writing", "public speaking", "salary negotiation", "networking events", "learning a new language",
    "exam preparation", "mindfulness meditation", "marathon training", "yoga for beginners", "strength training",
    "healthy sleep habits", "staying hydrated", "screen time", "a digital detox", "adopting a rescue dog",
    "puppy training", "caring for cats", "backyard birdwatching", "camping", "hiking safety", "solo travel",
    "budget travel", "packing light", "road trips", "home cooking", "sourdough baking", "coffee brewing",
    "tea culture", "vegetarian cooking", "food waste", "grocery shopping", "buying a first home",
    "renting an apartment", "moving to a new city", "long-distance friendships", "parenting toddlers",
    "teenage independence", "caring for aging parents", "volunteering", "community gardens", "local elections",
    "jury duty", "credit scores", "student loans", "index funds", "starting a small business", "freelancing",
    "customer service", "team building", "conflict resolution", "giving feedback", "leadership",
    "emotional intelligence", "burnout", "work-life balance", "four-day work weeks", "open-plan offices",
    "job hunting", "career changes", "mentorship", "side hustles", "impostor syndrome", "gratitude journaling",
    "habit tracking", "home workouts", "cycling to work", "carpooling", "thrift shopping", "repairing clothes",
    "zero-waste living", "energy-saving habits", "first aid basics", "CPR", "dental hygiene", "sun protection",
    "good posture", "stretching", "vitamin D", "heart health", "stress management", "seasonal allergies",
    "the common cold", "hand washing",
    # arts, leisure and society
    "poetry", "classic novels", "science fiction", "mystery novels", "stand-up comedy", "theater", "ballet",
    "street photography", "watercolor painting", "pottery", "knitting", "woodworking", "chess", "board games",
    "crossword puzzles", "origami", "calligraphy", "street art", "museums", "film festivals", "documentary filmmaking",
    "graphic novels", "opera", "folk dancing", "magic tricks", "bird photography", "fantasy football",
    "the Tour de France", "the World Cup", "Olympic swimming", "rock climbing", "surfing", "inflation",
    "supply and demand", "the minimum wage", "universal basic income", "globalization", "fair trade",
    "the gig economy", "housing affordability", "public transportation", "bike lanes", "urban planning",
    "carbon taxes", "overtourism", "plastic bag bans", "homeschooling", "school uniforms", "standardized testing",
    "student mental health", "library funding", "free public wifi", "recycling programs", "local journalism",
    "public parks", "aging populations", "immigration policy", "trade tariffs", "the stock market", "small-town life",
    "cooperative businesses", "the sharing economy", "citizen science",
)

AUDIENCES: tuple[str, ...] = (
    "a ten-year-old", "middle school students", "high school students", "first-year college students", "busy parents",
    "retirees", "small business owners", "software engineers", "nurses", "new employees", "first-time voters",
    "tourists", "complete beginners", "industry experts", "teachers", "farmers", "city council members", "investors",
    "a skeptical friend", "my grandmother", "non-native English speakers", "engineering managers", "graduate students",
    "amateur chefs", "hobby gardeners", "night-shift workers", "remote workers", "college athletes", "museum visitors",
    "newcomers to the city", "volunteers", "startup founders", "librarians", "truck drivers", "stay-at-home dads",
    "freelance designers", "hospital patients", "a book club", "history buffs", "science teachers",
)
TONES: tuple[str, ...] = (
    "formal", "friendly", "playful", "persuasive", "humorous", "neutral", "enthusiastic", "calm", "serious",
    "optimistic", "sarcastic", "inspirational", "nostalgic", "skeptical", "empathetic", "professional", "casual",
    "dramatic", "whimsical", "academic", "upbeat", "reassuring", "witty", "poetic",
)
LENGTHS: tuple[str, ...] = (
    "short", "brief", "concise", "two-paragraph", "one-paragraph", "100-word", "150-word", "three-sentence",
    "five-sentence", "quick", "50-word", "compact",
)
FORMS: tuple[str, ...] = (
    "blog post", "poem", "haiku", "limerick", "short story", "speech", "newsletter intro", "social media post",
    "op-ed", "radio ad", "fable", "diary entry", "letter", "motivational message", "sonnet", "press release",
    "book blurb", "FAQ entry", "podcast intro", "elevator pitch", "thank-you note", "LinkedIn post", "bedtime story",
    "riddle", "tweet", "announcement", "encyclopedia entry", "lesson outline", "opinion column", "travel guide entry",
    "product pitch", "wedding speech", "free verse poem", "campaign message",
)
POEM_FORMS: tuple[str, ...] = ("poem", "haiku", "limerick", "sonnet", "free verse poem", "ballad", "ode", "acrostic")
LETTER_FORMS: tuple[str, ...] = ("letter", "thank-you note", "diary entry")
PEOPLE: tuple[str, ...] = (
    "a nurse", "a startup founder", "a librarian", "a chef", "a farmer", "a pilot", "a museum curator",
    "a history teacher", "a software developer", "a marine biologist", "an astronaut", "a park ranger",
    "a firefighter", "a barista", "a journalist", "a real estate agent", "a retired sailor", "a high school coach",
    "a city mayor", "a veterinarian", "an architect", "a wedding planner", "a taxi driver", "a beekeeper",
    "a pharmacist", "a tailor", "a mountain guide", "a support agent", "a data analyst", "a poet",
)
PLACES: tuple[str, ...] = (
    "a small coastal town", "Tokyo", "Paris", "a public library", "a busy hospital", "a mountain village",
    "a space station", "a desert oasis", "a night market", "a college campus", "an abandoned amusement park",
    "a lighthouse", "a rainforest research camp", "a floating city", "New York City", "Lisbon",
    "a farmhouse in Vermont", "a train station", "an underwater hotel", "a family bakery", "Cairo", "Mexico City",
    "a ski resort", "a small island", "a jazz club", "Mumbai", "Nairobi", "a quiet suburb", "Reykjavik",
    "a fishing village", "Buenos Aires", "Seoul", "a vineyard", "Edinburgh",
)
GENRES: tuple[str, ...] = (
    "mystery", "science fiction", "fantasy", "romance", "horror", "comedy", "historical", "adventure", "fairy-tale",
    "thriller", "western", "dystopian", "slice-of-life", "detective", "ghost",
)
PRODUCTS: tuple[str, ...] = (
    "noise-cancelling headphones", "an electric scooter", "a reusable water bottle", "a standing desk",
    "a smart thermostat", "a budgeting app", "a meal kit subscription", "a language learning app", "hiking boots",
    "a robot vacuum", "a yoga mat", "an air purifier", "a coffee grinder", "a mechanical keyboard",
    "a solar phone charger", "an e-reader", "a fitness tracker", "an espresso machine", "a camping tent",
    "wireless earbuds", "a cast-iron skillet", "a portable speaker", "a plant-based protein bar",
    "a bamboo toothbrush", "an electric kettle", "a sleep mask", "a weighted blanket", "a bike helmet",
    "a note-taking app", "a rice cooker",
)
FEATURES: tuple[str, ...] = (
    "battery life", "durability", "low price", "ease of use", "sleek design", "portability", "comfort",
    "sound quality", "eco-friendly materials", "customer support", "speed", "safety features",
)
OCCASIONS: tuple[str, ...] = (
    "a retirement party", "a wedding reception", "a graduation ceremony", "a company anniversary", "a farewell lunch",
    "a birthday dinner", "a charity gala", "a family reunion", "a product launch", "a housewarming", "a team offsite",
    "a New Year's Eve party", "a baby shower", "a school reunion",
)
ITEM_KINDS: tuple[str, ...] = (
    "tips", "ideas", "reasons", "questions", "benefits", "strategies", "common mistakes", "fun facts", "examples",
    "habits", "myths", "warning signs", "arguments", "challenges", "lessons", "rules of thumb",
    "conversation starters", "surprising facts",
)
COUNTS: tuple[str, ...] = ("three", "four", "five", "six")
GOALS: tuple[str, ...] = (
    "save money", "sleep better", "learn faster", "stay focused", "reduce stress", "make new friends", "eat healthier",
    "cut down on waste", "stay motivated", "manage time", "write more clearly", "speak with confidence",
    "get organized", "save energy at home", "build a habit", "keep a journal", "prepare for an interview",
    "negotiate a raise", "recover from burnout", "learn to code",
)
CONSTRAINTS: tuple[str, ...] = (
    "a tight budget", "a busy schedule", "a rainy weekend", "a long commute", "limited space", "a small team",
    "a short deadline", "a single afternoon", "no internet access", "a shared apartment",
)
CRITERIA: tuple[str, ...] = (
    "cost", "environmental impact", "ease of use", "long-term benefits", "safety", "speed", "reliability",
    "popularity", "accessibility", "health effects", "historical importance", "energy use", "learning curve",
    "scalability",
)
PHENOMENA: tuple[str, ...] = (
    "the sky is blue", "ice floats on water", "leaves change color in autumn", "bread rises", "we have leap years",
    "the Moon has phases", "metal feels cold to the touch", "onions make people cry", "cats purr",
    "the ocean is salty", "airplanes can fly", "rainbows form", "people yawn", "popcorn pops",
    "coffee keeps people awake", "stock prices fluctuate", "prices rise during inflation", "people procrastinate",
    "birds migrate", "the seasons change", "sound travels faster in water", "soap removes grease",
    "bicycles stay upright", "deserts get cold at night", "hiccups happen", "sunsets look red",
)
HYPOTHETICALS: tuple[str, ...] = (
    "humans could photosynthesize", "the internet disappeared for a week", "everyone worked four days a week",
    "the Moon were twice as close", "cars were banned from city centers", "all schools moved online",
    "money were replaced by barter", "people lived to 150", "it never rained again in London", "animals could talk",
    "there were no time zones", "paper had never been invented", "every home had a garden",
    "social media were banned for teenagers", "the Roman Empire never fell",
)
MECHANISMS: tuple[str, ...] = (
    "a refrigerator", "a vaccine", "a search engine", "compound interest", "a solar panel", "a credit card",
    "a heat pump", "GPS navigation", "an electric motor", "noise cancellation", "a microwave oven",
    "public key encryption", "a hybrid car", "the human kidney", "a thermostat", "spam filtering", "a touchscreen",
    "a nuclear reactor", "the legislative process", "a supply chain", "an elevator", "a recommendation system",
    "a bicycle gear system",
)
FIGURES: tuple[str, ...] = (
    "Marie Curie", "Leonardo da Vinci", "Nelson Mandela", "Ada Lovelace", "Galileo Galilei", "Cleopatra",
    "Mahatma Gandhi", "Frida Kahlo", "Isaac Newton", "Harriet Tubman", "Albert Einstein", "Genghis Khan", "Rosa Parks",
    "Charles Darwin", "Florence Nightingale", "Alan Turing", "Joan of Arc", "Simon Bolivar", "Confucius",
    "Jane Austen", "Nikola Tesla", "Amelia Earhart", "Queen Victoria", "Martin Luther King Jr.", "Wangari Maathai",
)
FIELDS: tuple[str, ...] = (
    "science", "the arts", "politics", "mathematics", "human rights", "medicine", "literature", "technology",
    "education", "philosophy", "exploration", "engineering",
)
SKILLS: tuple[str, ...] = (
    "Spanish", "touch typing", "public speaking", "the guitar", "basic statistics", "chess", "watercolor painting",
    "Python programming", "bread baking", "photography basics", "sign language", "knitting", "negotiation", "SQL",
    "calculus", "swimming", "first aid", "speed reading", "meditation", "woodworking", "personal budgeting",
    "creative writing", "Japanese", "data analysis",
)
DURATIONS: tuple[str, ...] = (
    "one-day", "weekend", "three-day", "one-week", "two-week", "30-day", "four-week", "10-day", "six-week", "five-day",
)
MEALS: tuple[str, ...] = (
    "breakfast", "lunch", "dinner", "snack", "dessert", "side dish", "picnic", "brunch", "vegan dinner", "weeknight",
)
INGREDIENTS: tuple[str, ...] = (
    "chickpeas", "spinach", "sweet potatoes", "lentils", "tofu", "mushrooms", "quinoa", "eggs", "salmon", "zucchini",
    "black beans", "brown rice", "oats", "avocado", "cauliflower", "tomatoes", "chicken thighs", "feta cheese",
    "peanuts", "apples", "bell peppers", "coconut milk", "ginger", "carrots", "pasta",
)
FITNESS_GOALS: tuple[str, ...] = (
    "build strength", "improve flexibility", "run a 5K", "lose weight safely", "improve posture",
    "undo long hours at a desk", "train for a hike", "boost endurance",
)
PROCESSES: tuple[str, ...] = (
    "plant a tree", "change a flat tire", "start a podcast", "apply for a passport", "write a research paper",
    "brew pour-over coffee", "set up a home aquarium", "register a small business", "prepare for a job interview",
    "organize a community cleanup", "build a birdhouse", "create a monthly budget", "train for a 10K race",
    "plan a surprise party", "repot a houseplant", "start a vegetable garden", "host a book club", "back up a laptop",
    "adopt a pet", "write a cover letter", "launch a newsletter", "make fresh pasta",
)
PROBLEMS: tuple[str, ...] = (
    "traffic congestion", "food waste", "employee turnover", "deforestation", "inflation", "air pollution",
    "loneliness in cities", "soil erosion", "coral bleaching", "procrastination", "low voter turnout",
    "childhood obesity", "homelessness", "misinformation online", "burnout", "plastic pollution", "water scarcity",
    "housing shortages", "cyberattacks", "species extinction",
)
TERMS: tuple[str, ...] = (
    "opportunity cost", "irony", "entropy", "a metaphor", "biodiversity", "cognitive dissonance", "compound interest",
    "democracy", "osmosis", "a supply chain", "empathy", "recursion", "a budget deficit", "confirmation bias",
    "a sonnet", "gross domestic product", "a hypothesis", "an algorithm", "sustainability", "inertia", "a paradox",
    "satire", "the scientific method", "a monopoly", "net neutrality", "a carbon footprint",
)
DOMAINS: tuple[str, ...] = (
    "everyday life", "sports", "cooking", "business", "school", "the workplace", "nature", "history",
    "personal finance", "travel", "medicine", "gardening", "technology", "politics", "family life",
)
CHOICES: tuple[str, ...] = (
    "working from home", "buying an electric car", "renting instead of buying", "homeschooling",
    "using public transport", "learning online", "freelancing", "living in a big city", "getting a dog",
    "taking a gap year", "starting a business", "using social media", "going vegetarian", "studying abroad",
    "shopping secondhand", "joining a gym", "owning a smartwatch", "cloud storage", "open-plan offices",
    "self-checkout machines",
)
ACTIVITIES: tuple[str, ...] = (
    "team outings", "a rainy afternoon", "a charity fundraiser", "a first date", "a school fair",
    "a weekend with kids", "a neighborhood party", "a science club meeting", "a study group", "a coffee shop event",
    "a garden party", "a reading challenge", "a company retreat", "a rainy day at home",
)
ADJECTIVES: tuple[str, ...] = (
    "creative", "low-cost", "unusual", "eco-friendly", "fun", "memorable", "practical", "inclusive", "quirky", "cozy",
    "bold", "simple",
)
BUSINESSES: tuple[str, ...] = (
    "a vegan bakery", "a bike repair shop", "a dog-walking service", "a tutoring company", "a coffee truck",
    "a plant nursery", "a coworking space", "a vintage clothing store", "a cleaning service", "an escape room",
    "a language school", "a craft brewery", "a bookshop cafe", "a yoga studio", "a food truck",
    "an app development studio",
)
CS_PAIRS: tuple[str, ...] = (
    "a list and a tuple", "recursion and iteration", "a stack and a queue", "an array and a linked list",
    "compiled and interpreted code", "threads and processes", "SQL and NoSQL databases", "static and dynamic typing",
    "a class and an object", "unit and integration tests", "a compiler and an interpreter",
    "breadth-first and depth-first search", "mutable and immutable values", "synchronous and asynchronous code",
    "a library and a framework", "an interface and an abstract class",
)
ALGORITHMS: tuple[str, ...] = (
    "binary search", "bubble sort", "merge sort", "quicksort", "Dijkstra's algorithm", "breadth-first search",
    "insertion sort", "a hash table lookup", "heap sort", "linear search", "depth-first search",
    "the Euclidean algorithm", "memoized Fibonacci", "counting sort",
)
LANGUAGES: tuple[str, ...] = (
    "Python", "JavaScript", "Java", "C++", "Go", "Rust", "Ruby", "TypeScript", "Kotlin", "Swift", "C#", "PHP",
)
CODE_GOALS: tuple[str, ...] = (
    "reverse a list", "remove duplicates from an array", "sort a list of names", "count word frequencies",
    "check for a palindrome", "find the maximum value", "merge two dictionaries", "flatten a nested list",
    "read user input safely", "validate an email address", "swap two variables", "parse a date string",
)
CONSTRUCTS: tuple[str, ...] = (
    "a loop", "recursion", "the built-in sort", "any library", "global variables", "extra memory", "an if statement",
    "a dictionary",
)
CODE_EXTRAS: tuple[str, ...] = (
    "raises a ValueError on empty input", "includes a docstring", "uses type hints", "runs in linear time",
    "handles negative numbers", "avoids mutating its argument", "includes two doctests", "has a clear name",
    "prints nothing", "works on an empty list",
)
CODE_UNITS: tuple[str, ...] = ("snippet", "function", "helper", "piece of code", "routine")
SQL_GOALS: dict[str, str] = {
    "the ten most recent rows": "SELECT * FROM {table} ORDER BY created_at DESC LIMIT 10;",
    "the number of rows per status": "SELECT status, COUNT(*) FROM {table} GROUP BY status;",
    "all rows created in 2023": "SELECT * FROM {table} WHERE created_at >= '2023-01-01' "
    "AND created_at < '2024-01-01';",
    "the total amount for each month": "SELECT strftime('%Y-%m', created_at) AS month, SUM(amount) "
    "FROM {table} GROUP BY month;", "rows with a missing email": "SELECT * FROM {table} WHERE email IS NULL;",
    "the three highest amounts": "SELECT * FROM {table} ORDER BY amount DESC LIMIT 3;",
    "duplicate email addresses": "SELECT email, COUNT(*) FROM {table} GROUP BY email HAVING COUNT(*) > 1;",
    "the average amount": "SELECT AVG(amount) FROM {table};",
}
TABLES: tuple[str, ...] = (
    "orders", "employees", "customers", "products", "books", "users", "sales", "students", "flights", "invoices",
    "rentals", "patients",
)
REGEX_TARGETS: dict[str, str] = {
    "a valid email address": r"^[\w.+-]+@[\w-]+\.[\w.-]+$", "a US ZIP code": r"^\d{5}(-\d{4})?$",
    "a date in YYYY-MM-DD format": r"^\d{4}-\d{2}-\d{2}$", "a hexadecimal color code": r"^#(?:[0-9a-fA-F]{3}){1,2}$",
    "a 24-hour time like 14:30": r"^([01]\d|2[0-3]):[0-5]\d$",
    "a word that starts with a capital letter": r"\b[A-Z][a-z]*\b", "a positive integer": r"^[1-9]\d*$",
    "an IPv4 address": r"^(\d{1,3}\.){3}\d{1,3}$", "a hashtag": r"#\w+", "a price like $19.99": r"^\$\d+\.\d{2}$",
}
ENTITY_KINDS: tuple[str, ...] = (
    "names of people", "city names", "dates", "company names", "numbers", "job titles", "places", "organizations",
    "people and places",
)
EXTRACT_VERBS: tuple[str, ...] = ("extract", "pull out", "list", "find", "identify", "highlight")
TEXT_KINDS: tuple[str, ...] = (
    "paragraph", "passage", "email", "message", "announcement", "note", "news excerpt", "speech excerpt", "text",
    "memo", "post", "report summary",
)
REVIEW_KINDS: tuple[str, ...] = (
    "customer review", "product review", "online review", "app store review", "feedback form", "forum comment",
    "support ticket", "survey answer",
)
SENTIMENT_ASPECTS: tuple[str, ...] = ("sentiment", "tone", "overall mood", "attitude")
LABEL_SETS: tuple[tuple[str, ...], ...] = (
    ("positive", "negative", "neutral"), ("satisfied", "unsatisfied"), ("happy", "disappointed", "mixed"),
    ("favorable", "unfavorable"), ("enthusiastic", "lukewarm", "angry"),
)
MESSAGE_LABELS: tuple[tuple[str, ...], ...] = (
    ("a complaint", "a question", "praise"), ("urgent", "not urgent"), ("billing", "shipping", "technical"),
    ("spam", "not spam"), ("a refund request", "a general inquiry"),
)
CATEGORY_PAIRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fruits and vegetables": (("apple", "mango", "pear", "kiwi", "plum"), ("carrot", "leek", "celery", "kale")),
    "mammals and reptiles": (("otter", "horse", "bat", "whale"), ("iguana", "cobra", "gecko", "tortoise")),
    "renewable and non-renewable sources": (("wind", "solar", "tidal", "geothermal"), ("coal", "oil", "natural gas")),
    "cities and countries": (("Lyon", "Osaka", "Denver", "Porto"), ("Peru", "Kenya", "Norway", "Vietnam")),
    "metals and nonmetals": (("iron", "copper", "zinc", "gold"), ("oxygen", "carbon", "sulfur", "neon")),
    "verbs and nouns": (("run", "build", "whisper", "carry"), ("table", "river", "lantern", "cloud")),
    "team sports and individual sports": (("soccer", "rugby", "volleyball"), ("archery", "golf", "fencing")),
}
LITERARY_DEVICES: tuple[str, ...] = (
    "metaphor", "simile", "alliteration", "hyperbole", "personification", "irony", "onomatopoeia", "oxymoron",
)
ERROR_KINDS: tuple[str, ...] = (
    "grammar mistakes", "spelling errors", "punctuation errors", "typos", "grammatical errors", "word-choice errors",
)
RANK_GROUPS: dict[str, tuple[str, ...]] = {
    "cities": ("Tokyo", "Lagos", "Lima", "Oslo", "Toronto", "Hanoi", "Madrid"),
    "programming languages": ("Python", "Rust", "Java", "Go", "Haskell", "Ruby"),
    "careers": ("nurse", "electrician", "pilot", "teacher", "accountant", "game designer"),
    "hobbies": ("knitting", "rock climbing", "chess", "gardening", "baking", "birdwatching"),
    "ways to commute": ("bus", "bicycle", "car", "walking", "train", "electric scooter"),
    "snacks": ("almonds", "popcorn", "potato chips", "yogurt", "granola bars", "apple slices"),
    "sports": ("tennis", "swimming", "rowing", "basketball", "cycling", "boxing"),
}
MEASURES: tuple[str, ...] = (
    "test scores", "daily temperatures", "monthly expenses", "race times in minutes", "weekly step counts",
    "sales figures", "page counts", "waiting times in minutes", "daily rainfall amounts", "ticket prices",
)
STATS: dict[str, Callable[[list[int]], float]] = {
    "median": lambda values: sorted(values)[len(values) // 2],  # lists have odd length
    "maximum": max, "minimum": min, "range": lambda values: max(values) - min(values), "total": sum,
    "mean": lambda values: sum(values) / len(values),
}
NAMES: tuple[str, ...] = (
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Mei", "Nadia",
    "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yara", "Zoe", "Mateo", "Sofia", "Arjun",
    "Lena", "Kofi",
)
COMPARATIVES: tuple[tuple[str, str, str], ...] = (
    ("taller", "tallest", "shortest"), ("older", "oldest", "youngest"), ("faster", "fastest", "slowest"),
    ("heavier", "heaviest", "lightest"), ("richer", "richest", "poorest"), ("louder", "loudest", "quietest"),
)
GOODS: tuple[str, ...] = (
    "notebooks", "croissants", "seed packets", "bookmarks", "melons", "muffins", "kites", "hammers", "tulips",
    "scarves", "candles", "postcards", "tennis balls", "jars of honey", "paintbrushes", "bus tickets",
    "coffee mugs", "phone cases", "lemons", "board games",
)
THINGS: tuple[str, ...] = ("marbles", "stickers", "apples", "pencils", "trading cards", "cookies", "coins", "stamps")
VEHICLES: tuple[str, ...] = ("train", "car", "bus", "cyclist", "ferry", "truck", "motorbike", "tram")
ROOMS: tuple[tuple[str, str], ...] = (
    ("meter", "garden"), ("foot", "patio"), ("meter", "classroom"), ("foot", "bedroom"), ("meter", "parking lot"),
    ("foot", "kitchen floor"), ("meter", "football pitch"), ("centimeter", "photo frame"),
)
UNIT_CONVERSIONS: tuple[tuple[str, str, int], ...] = (
    ("kilometers", "meters", 1000), ("hours", "minutes", 60), ("kilograms", "grams", 1000), ("feet", "inches", 12),
    ("days", "hours", 24), ("liters", "milliliters", 1000), ("minutes", "seconds", 60), ("yards", "feet", 3),
    ("weeks", "days", 7), ("meters", "centimeters", 100),
)
MYTHS: tuple[str, ...] = (
    "we only use 10 percent of our brains", "goldfish have a three-second memory",
    "lightning never strikes the same place twice", "cracking your knuckles causes arthritis", "bats are blind",
    "the Great Wall is visible from space", "sugar makes children hyperactive", "humans have only five senses",
    "bulls are enraged by the color red", "shaving makes hair grow back thicker",
)
PROVERBS: tuple[str, ...] = (
    "a stitch in time saves nine", "the early bird catches the worm", "don't count your chickens before they hatch",
    "actions speak louder than words", "many hands make light work", "look before you leap",
    "every cloud has a silver lining", "practice makes perfect", "Rome wasn't built in a day",
    "you can't judge a book by its cover", "slow and steady wins the race", "where there's smoke there's fire",
)
IDIOMS: tuple[str, ...] = (
    "break the ice", "bite the bullet", "hit the sack", "spill the beans", "under the weather", "once in a blue moon",
    "the ball is in your court", "cost an arm and a leg", "let the cat out of the bag", "burn the midnight oil",
    "cut corners", "on thin ice",
)
COUNTABLES: tuple[str, ...] = (
    "bicycles", "streetlights", "trees", "cups of coffee sold each day", "windows", "library books", "dogs",
    "pizzas eaten each week", "taxis", "school buses",
)
ANALOGIES: tuple[str, ...] = (
    "a kitchen analogy", "a sports example", "everyday examples", "a short story", "a simple comparison",
    "one concrete example",
)
TRY_ACTIVITIES: tuple[str, ...] = (
    "composting", "cycling to work", "journaling", "learning chess", "volunteering", "meal prepping",
    "reading before bed", "their public library", "a weekly digital sabbath", "community theater", "birdwatching",
    "learning a second language",
)
VERBS_WRITE: tuple[str, ...] = ("write", "compose", "draft", "create", "produce", "craft", "prepare", "pen")
VERBS_EXPLAIN: tuple[str, ...] = ("explain", "describe", "clarify", "break down", "outline", "summarize")
VERBS_LIST: tuple[str, ...] = ("list", "name", "give", "suggest", "provide", "share", "offer")
VERBS_CLASSIFY: tuple[str, ...] = ("classify", "label", "categorize", "judge", "rate")
VERBS_CODE: tuple[str, ...] = ("write", "implement", "create", "code")

SLOTS: dict[str, tuple[str, ...]] = {
    "topic": TOPICS, "audience": AUDIENCES, "tone": TONES, "length": LENGTHS, "form": FORMS, "poem_form": POEM_FORMS,
    "person": PEOPLE, "place": PLACES, "genre": GENRES, "product": PRODUCTS, "feature": FEATURES,
    "occasion": OCCASIONS, "items": ITEM_KINDS, "count": COUNTS, "goal": GOALS, "constraint": CONSTRAINTS,
    "criterion": CRITERIA, "phenomenon": PHENOMENA, "hypothetical": HYPOTHETICALS, "mechanism": MECHANISMS,
    "figure": FIGURES, "field": FIELDS, "skill": SKILLS, "duration": DURATIONS, "meal": MEALS,
    "ingredient": INGREDIENTS, "fitness_goal": FITNESS_GOALS, "process": PROCESSES, "problem": PROBLEMS, "term": TERMS,
    "domain": DOMAINS, "choice": CHOICES, "activity": ACTIVITIES, "adj": ADJECTIVES, "business": BUSINESSES,
    "cs_pair": CS_PAIRS, "algorithm": ALGORITHMS, "language": LANGUAGES, "code_goal": CODE_GOALS,
    "construct": CONSTRUCTS, "code_extra": CODE_EXTRAS, "code_unit": CODE_UNITS, "sql_goal": tuple(SQL_GOALS),
    "table": TABLES, "regex_target": tuple(REGEX_TARGETS), "entity_kind": ENTITY_KINDS, "extract": EXTRACT_VERBS,
    "text_kind": TEXT_KINDS, "review_kind": REVIEW_KINDS, "aspect": SENTIMENT_ASPECTS, "device": LITERARY_DEVICES,
    "error_kind": ERROR_KINDS, "rank_group": tuple(RANK_GROUPS), "measure": MEASURES, "stat": tuple(STATS),
    "name": NAMES, "myth": MYTHS, "proverb": PROVERBS, "idiom": IDIOMS, "countable": COUNTABLES, "analogy": ANALOGIES,
    "try_activity": TRY_ACTIVITIES, "write": VERBS_WRITE, "explain": VERBS_EXPLAIN, "list": VERBS_LIST,
    "classify": VERBS_CLASSIFY, "code_verb": VERBS_CODE, "category_pair": tuple(CATEGORY_PAIRS),
    "label_set": tuple(", ".join(labels[:-1]) + " or " + labels[-1] for labels in LABEL_SETS),
    "message_labels": tuple(", ".join(labels[:-1]) + " or " + labels[-1] for labels in MESSAGE_LABELS),
    "n_sentences": ("two", "three", "four"), "n_words": ("30", "40", "50", "60", "75"),
    # paraphrase slots: they replace fixed wording, so two tasks of one template share fewer words
    "quiz_kind": ("multiple-choice", "true-or-false", "short-answer", "open-ended", "fill-in-the-blank",
                  "discussion", "comprehension", "review"),
    "how_far": ("How far does it travel", "What distance does it cover", "How many kilometers does it go",
                "How much ground does it cover"),
    "identify": ("identify", "name", "spot", "point out", "find"),
    "argument_kind": ("argument", "claim", "reasoning", "comment", "post", "speech"),
    "continue_verb": ("continue", "extend", "finish", "complete", "carry on"),
    "story_kind": ("story opening", "opening scene", "first paragraph", "tale", "short story"),
    "paraphrase": ("paraphrase", "reword", "restate", "rephrase", "simplify"),
    "plain_style": ("plain language", "simple words", "everyday English", "short sentences", "a friendly voice",
                    "under 40 words"),
    "decide": ("decide", "determine", "judge", "tell me", "assess"),
    "claim_kind": ("claim", "statement", "remark", "comment", "post", "headline"),
    "define": ("define", "explain", "describe", "clarify"),
    "email_kind": ("email", "message", "note", "inquiry", "invitation", "request"),
    "reply_goal": ("accepts the invitation", "politely declines", "asks for more details", "proposes a new date",
                   "apologizes for the delay", "confirms the budget", "suggests a call"),
    "sort_order": ("ascending order", "descending order", "order from lowest to highest",
                   "order from highest to lowest"),
    "keyword_kind": ("key terms", "keywords", "main concepts", "key phrases", "important words", "search tags"),
    "feedback_kind": ("constructive feedback", "honest feedback", "two suggestions", "three concrete tips",
                      "a short critique", "kind but direct notes"),
    "day_part": ("morning", "first day", "biggest challenge", "lunch break", "commute", "weekend", "worst day"),
    "message_kind": ("message", "email", "chat message", "support ticket", "text message", "comment"),
    "fix_verb": ("correct", "fix", "repair", "clean up", "proofread and fix"),
    "shares_it": ("sends it", "publishes it", "reads it aloud", "prints it", "shares it with the team"),
    "story_part": ("opening paragraph", "first scene", "final scene", "climax", "ending", "prologue"),
    "calc_verb": ("find", "calculate", "compute", "work out", "determine"),
    "estimate_verb": ("estimate", "guess", "work out roughly", "approximate"),
    "reasoning_style": ("showing each step", "using round numbers", "stating your assumptions",
                        "in under 80 words", "like a Fermi problem"),
    "summary_kind": ("summary", "recap", "overview", "status update", "digest", "abstract"),
    "design_verb": ("design", "create", "plan", "put together", "sketch out"),
    "routine_kind": ("workout routine", "training plan", "exercise schedule", "fitness program",
                     "home workout plan"),
    "debug_verb": ("find and fix the bug in", "debug", "repair", "spot the mistake in", "correct the error in"),
    # slots of the optional frames around a task
    "context": ("a school project", "a team meeting", "our company newsletter", "a job interview",
                "a class discussion", "a podcast episode", "a weekend workshop", "a community meeting",
                "a study group", "my book club", "a museum tour", "a radio segment", "a parents' evening",
                "an onboarding session", "a conference talk", "a local newspaper"),
    "voice": ("a news anchor", "a sports commentator", "a pirate", "a children's book", "a nature documentary",
              "a detective novel", "a motivational coach", "a medieval herald", "a tour guide", "a game show host",
              "a weather forecaster", "a Victorian novelist", "a startup pitch", "a fairy tale"),
    "avoid": ("jargon", "clichés", "the passive voice", "bullet points", "exclamation marks", "long sentences",
              "technical terms", "rhetorical questions", "brand names", "statistics", "the word very", "humor"),
    "ending": ("a question", "a call to action", "a short joke", "a one-line summary", "a famous quote",
               "a surprising fact", "a practical tip", "a cliffhanger", "a word of encouragement"),
    "answer_format": ("a numbered list", "a table", "a single paragraph", "bullet points", "JSON",
                      "a short essay", "a question-and-answer pair", "two short paragraphs", "a checklist"),
    "source_kind": ("study", "statistic", "historical example", "expert", "book", "news story", "proverb"),
}


T = Template
TEMPLATES: tuple[Template, ...] = (
    # generation
    T("generation", "{write} a {length} {form} about {topic} for {audience}.", "", "form"),
    T("generation", "{write} a {tone} {form} that introduces {topic} to {audience}.", "", "form"),
    T("generation", "Could you compose a {tone} {poem_form} about {topic} set in {place}?", "", "poem"),
    T("generation", "Come up with a catchy slogan for {product} aimed at {audience}.", "", "title"),
    T("generation", "{write} a {tone} product description for {product} that highlights its {feature}.", "", "prose"),
    T("generation", "Draft a {tone} email to {person} asking for advice on {topic}.", "", "letter"),
    T("generation", "Create a short dialogue between {person} and {person2} about {topic}.", "", "dialogue"),
    T("generation", "{write} the {story_part} of a {genre} story set in {place} for {audience}.", "", "story"),
    T("generation", "Suggest a title for a {form} about {topic} aimed at {audience}.", "", "title"),
    T("generation", "{write} a {tone} toast for {occasion} that mentions {topic}.", "", "prose"),
    T("generation", "Imagine you are {person} in {place}. {explain} your {day_part} in a {tone} voice.", "", "story"),
    T("generation", "Imagine {figure} visiting {place} today. What would they say about {topic}?", "", "prose"),
    T("generation", "{write} a {genre} story for {audience} in which {person} learns about {topic}.", "", "story"),
    T("generation", "{write} a letter from {figure} to {audience} about {topic}.", "", "letter"),
    T("generation", "{write} a {tone} reply to this {email_kind} from {person} that {reply_goal}.", "email", "letter"),
    T("generation", "Suggest a {adj} title for the following {text_kind} about {topic}.", "paragraph", "title"),
    T("generation", "{continue_verb} this {genre} {story_kind} in a {tone} voice for {audience}.", "story_opening",
      "story"),
    T("generation", "Turn this {claim_kind} into {count} {quiz_kind} questions for {audience}.", "statement",
      "questions"),
    T("generation", "{write} {count} {quiz_kind} questions for {audience} based on this {text_kind} about {topic}.",
      "paragraph", "questions"),
    # brainstorming
    T("brainstorming", "{list} {count} {items} for {audience} interested in {topic}.", "", "list"),
    T("brainstorming", "Brainstorm {count} {adj} ideas for {activity} in {place}.", "", "list"),
    T("brainstorming", "What are {count} {items} about {topic} that {audience} should know?", "", "list"),
    T("brainstorming", "Suggest {count} names for {business} in {place}.", "", "names"),
    T("brainstorming", "Give me {count} questions to ask {person} about {topic}.", "", "questions"),
    T("brainstorming", "Come up with {count} ways to {goal} on {constraint}.", "", "list"),
    T("brainstorming", "What are some {adj} ways for {audience} to {goal}?", "", "list"),
    T("brainstorming", "{list} {count} {items} of {choice} for {audience}.", "", "list"),
    # classification
    T("classification", "{classify} the {aspect} of this {review_kind} about {product} as {label_set}.", "review",
      "label"),
    T("classification", "{decide} whether {person}'s {claim_kind} on {topic} is fact or opinion.", "statement",
      "label"),
    T("classification", "Sort the items below into {category_pair}.", "category_items", "groups"),
    T("classification", "Does this {text_kind} from {person} sound {tone} or {tone2}?", "paragraph", "tone_label"),
    T("classification", "{classify} this {message_kind} sent to {business} as {message_labels}.", "message", "label"),
    T("classification", "{identify} the {device} in this {text_kind} by {person}.", "device_sentence", "label"),
    T("classification", "{identify} the fallacy in {person}'s {argument_kind} about {topic}.", "argument", "label"),
    T("classification", "Which {rank_group} below best fits {audience} with {constraint}?", "rank_items", "choice"),
    # rewriting
    T("rewriting", "Rewrite the following {text_kind} in a more {tone} tone for {audience}.", "paragraph", "rewrite"),
    T("rewriting", "{paraphrase} this {text_kind} for {audience} in {plain_style}.", "paragraph", "rewrite"),
    T("rewriting", "Turn these notes about {topic} into a {tone} {form}.", "notes", "form"),
    T("rewriting", "Convert this {text_kind} into {count} bullet points for {audience}.", "paragraph", "list"),
    # editing
    T("editing", "{fix_verb} the {error_kind} in this {text_kind} before {person} {shares_it}.", "flawed_sentence",
      "corrected"),
    T("editing", "Shorten this {text_kind} about {topic} to under {n_words} words.", "paragraph", "summary"),
    T("editing", "Edit this {text_kind} from {person} so it sounds more {tone} to {audience}.", "paragraph",
      "rewrite"),
    T("editing", "Remove the jargon from this {text_kind} for {audience}.", "jargon_paragraph", "rewrite"),
    T("editing", "Give {person} {feedback_kind} on this {text_kind} about {topic}.", "paragraph", "feedback"),
    # extraction
    T("extraction", "{extract} the {entity_kind} from this {text_kind}.", "entity_paragraph", "entities"),
    T("extraction", "{extract} {count} {keyword_kind} from this {text_kind} on {topic}.", "paragraph", "keywords"),
    T("extraction", "Summarize this {text_kind} in {n_sentences} sentences for {audience}.", "paragraph", "summary"),
    T("extraction", "State the main idea of {person}'s {text_kind} on {topic}.", "paragraph", "summary"),
    T("extraction", "{write} a {length} {summary_kind} for {audience} from these notes.", "notes", "summary"),
    # reasoning
    T("reasoning", "{explain} to {audience} why {phenomenon}, using {analogy}.", "", "prose"),
    T("reasoning", "What would happen if {hypothetical}? Answer from the point of view of {person}.", "", "prose"),
    T("reasoning", "Compare {topic} and {topic2} in terms of {criterion}.", "", "comparison"),
    T("reasoning", "What are the pros and cons of {choice} for {audience}?", "", "pros_cons"),
    T("reasoning",
      "{name} is {comparative} than {name2}, and {name2} is {comparative} than {name3}. Who is the {superlative}?", "",
      "ordering"),
    T("reasoning", "Rank the following {rank_group} by {criterion} for {audience}.", "rank_items", "ranking"),
    T("reasoning", "{estimate_verb} how many {countable} there are in {place}, {reasoning_style}.", "", "estimate"),
    # coding
    T("coding", "{code_verb} a Python {code_unit} that {code_task} and {code_extra}.", "", "code"),
    T("coding", "{explain} this Python {code_unit} to {audience} in {n_sentences} sentences.", "code",
      "code_explanation"),
    T("coding", "{debug_verb} this Python {code_unit} that {code_task}.", "buggy_code", "code_fix"),
    T("coding", "How would you {code_goal} in {language} without using {construct}?", "", "prose"),
    T("coding", "{code_verb} a SQL query that returns {sql_goal} from the {table} table.", "", "sql"),
    T("coding", "{explain} the time complexity of {algorithm} to {audience}.", "", "complexity"),
    T("coding", "{code_verb} a regular expression that matches {regex_target}.", "", "regex"),
    T("coding", "What is the difference between {cs_pair} in {language}?", "", "prose"),
    T("coding", "Suggest {count} test cases for a Python function that {code_task}.", "", "test_cases"),
    # math
    T("math", "What is {n_mid} multiplied by {n_mid2}?", "", "product"),
    T("math", "{name} buys {n_small} {goods} that cost ${price} each. How much does {name} pay?", "", "purchase"),
    T("math", "{name}'s {vehicle} averages {speed} km/h. {how_far} in {hours} hours?", "", "distance"),
    T("math", "What is {pct}% of {n_big}?", "", "percent"),
    T("math", "Convert {n_mid} {unit_from} to {unit_to}.", "", "conversion"),
    T("math", "{name} has {n_mid} {things} and gives {n_small} to {name2}. How many {things} does {name} have left?",
      "", "subtraction"),
    T("math", "{calc_verb} the area of a {n_mid} by {n_mid2} {unit} {room}.", "", "area"),
    T("math", "Solve for x: {coef}x + {offset} = {total}.", "", "equation"),
    T("math", "{calc_verb} the {stat} of these {measure} from {place}.", "numbers", "statistic"),
    T("math", "Scale {grams} g of {ingredient} from {n_small} servings to {n_small2}.", "", "scaling"),
    T("math", "How much is {product} priced at ${price} after a {pct}% discount?", "", "discount"),
    T("math", "Sort these {measure} from {place} in {sort_order}.", "numbers", "sorted_numbers"),
    # qa
    T("qa", "What did {figure} contribute to {field}?", "", "prose"),
    T("qa", "What is the difference between {topic} and {topic2}?", "", "comparison"),
    T("qa", "How does {mechanism} work? Explain it for {audience}.", "", "prose"),
    T("qa", "Why is {topic} important for {audience}?", "", "prose"),
    T("qa", "What are the main causes of {problem} in {place}?", "", "list"),
    T("qa", "{define} {term} for {audience}, with an example from {domain}.", "", "definition"),
    T("qa", "When should {audience} consider {choice}?", "", "prose"),
    T("qa", "Is it true that {myth}? Explain briefly.", "", "myth"),
    # planning
    T("planning", "Plan a {duration} itinerary for {audience} visiting {place}.", "", "plan"),
    T("planning", "Create a {duration} study plan for {audience} who want to learn {skill}.", "", "plan"),
    T("planning", "Give {audience} practical advice on how to {goal}.", "", "list"),
    T("planning", "{design_verb} a {duration} {routine_kind} for {audience} who want to {fitness_goal}.", "", "plan"),
    T("planning", "Suggest a {meal} recipe that uses {ingredient} and {ingredient2}.", "", "recipe"),
    T("planning", "Outline the steps to {process} for {audience}.", "", "steps"),
    T("planning", "How should {person} prepare for {occasion}?", "", "list"),
    # persuasion
    T("persuasion", "Argue for or against {choice} in a {length} {form}.", "", "prose"),
    T("persuasion", "{write} a persuasive paragraph convincing {audience} to try {try_activity}.", "", "prose"),
    T("persuasion", "{list} a {tone} argument for and against {choice} as {person} would.", "", "pros_cons"),
    # language
    T("language", "Rewrite the proverb '{proverb}' for {audience}.", "", "proverb"),
    T("language", "Explain the meaning of the idiom '{idiom}' to {audience}.", "", "idiom"),
)
del T
TEMPLATES_WITH_INPUT = tuple(template for template in TEMPLATES if template.input_kind)
TEMPLATES_WITHOUT_INPUT = tuple(template for template in TEMPLATES if not template.input_kind)
INPUT_SHARE = 0.4  # about the share of Alpaca's 52K examples that have an input
# Frames vary the wording and word order around a template, which is what keeps two tasks of one template apart
# under ROUGE-L; `{x9}` slots draw fillers distinct from the template's own `{x}`.
PREFIX_SHARE, SUFFIX_SHARE = 0.4, 0.6
PREFIXES: tuple[str, ...] = (
    "For {context9}, ", "As {person9}, ", "In the style of {voice9}, ", "Quick task: ", "Briefly, ",
    "Here is a request from {audience9}: ", "Using {analogy9}, ", "In {n_words9} words or fewer, ",
    "Without any jargon, ", "In plain English, ", "Step by step, ", "From the point of view of {person9}, ",
    "For {audience9} in {place9}, ",
)
SUFFIXES: tuple[str, ...] = (
    "Keep it under {n_words9} words.", "Use {analogy9}.", "Write for {audience9}.", "Avoid {avoid9}.",
    "End with {ending9}.", "Format the answer as {answer_format9}.", "Mention {topic9} if it fits.",
    "Include {count9} examples.", "Make it {tone9}.", "Think about {criterion9} first.",
    "Explain your reasoning briefly.", "Cite one {source_kind9} if you can.", "This is for {context9}.",
    "Answer in {n_sentences9} sentences.", "Be specific.", "Add a short title.", "Assume {constraint9}.",
    "Refer to {place9} where you can.", "Compare it with {topic9}.", "Give one reason for each point.",
)


CODE_TASKS: tuple[CodeTask, ...] = (
    CodeTask("reverses a string", "reverse_string(text)", "return text[::-1]", ("[::-1]", "[::1]")),
    CodeTask("checks whether a number is prime", "is_prime(n)",
             "if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))",
             ("+ 1))", "))")),
    CodeTask("counts the vowels in a word", "count_vowels(word)",
             "return sum(1 for ch in word.lower() if ch in 'aeiou')", (".lower()", "")),
    CodeTask("returns the largest number in a list", "largest(numbers)",
             "best = numbers[0]\n    for n in numbers:\n        if n > best:\n            best = n\n    return best",
             ("n > best", "n < best")),
    CodeTask("removes duplicates from a list while keeping order", "dedupe(items)",
             "seen = set()\n    return [x for x in items if not (x in seen or seen.add(x))]", ("not (", "(")),
    CodeTask("computes the factorial of n", "factorial(n)",
             "result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result", ("n + 1", "n")),
    CodeTask("checks whether a word is a palindrome", "is_palindrome(word)",
             "word = word.lower()\n    return word == word[::-1]", ("word[::-1]", "word[1:]")),
    CodeTask("converts Celsius to Fahrenheit", "to_fahrenheit(celsius)", "return celsius * 9 / 5 + 32",
             ("+ 32", "- 32")),
    CodeTask("returns the n-th Fibonacci number", "fibonacci(n)",
             "a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
             ("a, b = b, a + b", "a = b")),
    CodeTask("counts how often each word appears in a sentence", "word_counts(sentence)",
             "counts = {}\n    for word in sentence.split():\n        counts[word] = counts.get(word, 0) + 1\n    "
             "return counts", ("get(word, 0) + 1", "get(word, 1)")),
    CodeTask("flattens a list of lists", "flatten(rows)", "return [x for row in rows for x in row]",
             ("for x in row]", "]")),
    CodeTask("checks whether two strings are anagrams", "are_anagrams(a, b)", "return sorted(a) == sorted(b)",
             ("sorted(b)", "b")),
    CodeTask("sums the digits of an integer", "digit_sum(n)", "return sum(int(d) for d in str(abs(n)))",
             ("abs(n)", "n")),
    CodeTask("averages a list of numbers", "average(numbers)", "return sum(numbers) / len(numbers)",
             ("/ len(numbers)", "/ 2")),
    CodeTask("keeps only the even numbers of a list", "evens(numbers)", "return [n for n in numbers if n % 2 == 0]",
             ("== 0", "== 1")),
    CodeTask("returns the common elements of two lists", "common(a, b)", "return [x for x in a if x in set(b)]",
             (" in set(b)", " not in set(b)")),
    CodeTask("checks whether a year is a leap year", "is_leap(year)",
             "return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)", ("year % 400 == 0", "False")),
    CodeTask("computes the greatest common divisor of two numbers", "gcd(a, b)",
             "while b:\n        a, b = b, a % b\n    return a", ("a % b", "b % a")),
    CodeTask("finds the longest word in a sentence", "longest_word(sentence)", "return max(sentence.split(), key=len)",
             (", key=len", "")),
    CodeTask("converts minutes into hours and minutes", "split_minutes(total)", "return divmod(total, 60)",
             ("60", "100")),
    CodeTask("capitalizes the first letter of every word", "title_case(text)",
             "return ' '.join(w[:1].upper() + w[1:] for w in text.split())", ("w[1:]", "w[2:]")),
    CodeTask("rotates a list by k positions", "rotate(items, k)", "k %= len(items)\n    return items[k:] + items[:k]",
             ("items[:k]", "items[k:]")),
)
SLOTS["code_task"] = tuple(task.description for task in CODE_TASKS)

# Small pieces the output and input builders assemble into sentences.
CORE_IDEAS: tuple[str, ...] = (
    "balancing costs against benefits", "small habits that add up over time", "cause and effect", "careful trade-offs",
    "patterns that repeat", "solving a practical problem", "clear goals and feedback",
    "energy moving from one place to another", "how people make decisions", "working with limited resources",
)
FIRST_STEPS: tuple[str, ...] = (
    "set one clear goal", "read a trusted introduction", "ask someone with experience", "try a small experiment",
    "write down what you already know", "pick a single habit to change", "schedule a regular time for it",
    "compare two or three options",
)
BENEFITS: tuple[str, ...] = (
    "it saves time in the long run", "it lowers stress", "it builds confidence", "it saves money",
    "it helps people work together", "it makes everyday choices easier", "it protects health",
    "it opens new opportunities", "it reduces waste",
)
ACTIONS: tuple[str, ...] = (
    "Start small with", "Set a weekly goal for", "Keep a simple log of", "Ask an expert about", "Read one article on",
    "Join a local group focused on", "Share what you learn about", "Review your progress with", "Make a checklist for",
    "Budget a little time for", "Teach a friend about", "Question common myths about",
)
NOUNS: tuple[str, ...] = (
    "river", "lantern", "garden", "window", "harbor", "meadow", "city", "kitchen", "letter", "bridge", "forest",
    "station", "market", "shore", "library", "mountain",
)
POEM_ADJECTIVES: tuple[str, ...] = (
    "quiet", "golden", "restless", "silver", "gentle", "endless", "hidden", "bright", "patient", "distant",
)
POSITIVE_PHRASES: tuple[str, ...] = (
    "It works exactly as described", "I use it every day", "The quality is excellent",
    "Setup took less than five minutes", "It was worth every penny", "Customer support answered within an hour",
)
NEGATIVE_PHRASES: tuple[str, ...] = (
    "It stopped working after two weeks", "The instructions were confusing", "It feels cheaply made",
    "Delivery took almost a month", "It is much louder than advertised", "Support never replied to my emails",
)
NEUTRAL_PHRASES: tuple[str, ...] = (
    "It does what it says", "The color is slightly different from the photos online", "It arrived on Tuesday",
    "It is about the size I expected",
)
FACTS: tuple[str, ...] = (
    "Water boils at 100 degrees Celsius at sea level.", "The Pacific is the largest ocean on Earth.",
    "Honeybees communicate through a waggle dance.", "The human body has 206 bones in adulthood.",
    "Light from the Sun takes about eight minutes to reach Earth.",
    "Mount Everest is the highest peak above sea level.", "The first Olympic Games were held in ancient Greece.",
    "Octopuses have three hearts.",
)
OPINION_OPENERS: tuple[str, ...] = (
    "I think", "In my view,", "Honestly,", "Everyone should agree that", "It seems obvious that",
)
OPINION_CLAIMS: tuple[str, ...] = (
    "is the most overrated subject of our time", "deserves far more attention in schools",
    "is more fun than any other hobby", "will matter less in ten years", "is the best thing about modern life",
)
FALLACIES: tuple[tuple[str, str], ...] = (
    ("ad hominem", "We should ignore her ideas on {topic} because she dresses badly."),
    ("slippery slope", "If we allow any change to {topic}, soon everything we value will collapse."),
    ("false dilemma", "Either we ban {topic} completely or we give up on the future."),
    ("appeal to popularity", "Millions of people love {topic}, so it must be good for everyone."),
    ("hasty generalization", "My neighbor tried {topic} once and hated it, so it never works."),
    ("straw man", "Critics of {topic} just want everyone to live in caves."),
    ("appeal to authority", "A famous actor said {topic} is harmless, so it must be true."),
)
JARGON: tuple[tuple[str, str], ...] = (
    ("leverage", "use"), ("synergies", "shared strengths"), ("circle back", "return"), ("bandwidth", "time"),
    ("move the needle", "make a difference"), ("deliverables", "results"), ("actionable insights", "useful ideas"),
    ("going forward", "from now on"),
)
SYNONYMS: dict[str, str] = {
    "important": "essential", "quickly": "fast", "many": "numerous", "big": "large", "help": "assist",
    "shows": "reveals", "often": "frequently", "people": "individuals", "start": "begin", "also": "as well",
    "about": "roughly", "good": "helpful", "easy": "simple", "hard": "difficult", "use": "employ",
}
SPELLING_ERRORS: tuple[tuple[str, str], ...] = (
    ("their", "there"), ("its", "it's"), ("receive", "recieve"), ("definitely", "definately"),
    ("separate", "seperate"), ("because", "becuase"), ("which", "wich"), ("until", "untill"),
)
ERROR_SENTENCES: tuple[str, ...] = (
    "{name} said their {noun} was ready, but we waited until noon because the bus was late.",
    "The company will definitely receive its new {noun} next week, which is great news.",
    "Please keep the receipts separate until {name} checks which ones are ours.",
    "We could not open the {noun} until Friday because their keys were missing.",
    "{name} will receive a separate invoice, which lists the {noun} and its price.",
)
DEVICE_SENTENCES: dict[str, str] = {
    "metaphor": "The classroom was a zoo after the bell rang.",
    "simile": "Her smile was as bright as the morning sun.", "alliteration": "Seven silly swans swam silently south.",
    "hyperbole": "I have told you a million times to close the door.",
    "personification": "The old house groaned as the wind pushed against it.",
    "irony": "The fire station burned down while the crew was out on a call.",
    "onomatopoeia": "The bacon sizzled and the kettle hissed on the stove.",
    "oxymoron": "The meeting ended in a deafening silence.",
}


SENTENCE_SHAPES: tuple[str, ...] = (
    "{T} has changed a lot over the last decade.", "Many {a} still misunderstand {t}.",
    "A recent survey found that {n} percent of {a} care about {t}.",
    "{Name} started learning about {t} after a chance conversation in {p}.",
    "Experts say {t} works best when people {s}.", "The debate about {t} is often louder than it is useful.",
    "Local groups in {p} now meet every month to discuss {t}.", "At its core, {t} is about {c}.",
)
# fmt: on


def pick(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    """One element, drawn with the caller's rng (the module-level `random` is never used)."""
    return options[rng.randrange(len(options))]


def capitalize(text: str) -> str:
    """Upper-case the first character only: `capitalize("iPhone tips")` -> "IPhone tips"."""
    return text[:1].upper() + text[1:]


def fix_articles(text: str) -> str:
    """Turn "a" into "an" before a vowel sound, which slot filling gets wrong: "a owl" -> "an owl"."""
    return re.sub(r"\b([Aa]) (?=[aeiAEI]|[oO](?!ne\b|ne-)|u(?!s|ni|se))", r"\1n ", text)


def fill_slots(pattern: str, rng: random.Random) -> dict[str, str]:
    """Draw every slot of a pattern; `{x}` and `{x2}` get distinct fillers from the same list."""
    values: dict[str, str] = {}
    for name in dict.fromkeys(re.findall(r"\{(\w+)\}", pattern)):
        values.setdefault(name, "")
    values.update(draw_numbers(rng))
    for name in [slot for slot in values if not values[slot]]:
        base = name.rstrip("0123456789")
        taken = {value for key, value in values.items() if key.rstrip("0123456789") == base}
        values[name] = pick(rng, [option for option in SLOTS[base] if option not in taken])
    return values


def draw_numbers(rng: random.Random) -> dict[str, str]:
    """Numeric and paired slots of the math and reasoning templates, drawn together so they stay consistent."""
    unit, room = ROOMS[rng.randrange(len(ROOMS))]
    unit_from, unit_to, _ = UNIT_CONVERSIONS[rng.randrange(len(UNIT_CONVERSIONS))]
    comparative, superlative, least = COMPARATIVES[rng.randrange(len(COMPARATIVES))]
    coef, solution = rng.randint(2, 9), rng.randint(1, 12)
    offset = rng.randint(1, 30)
    small = rng.sample(range(2, 10), 2)
    return {
        "n_small": str(small[0]),
        "n_small2": str(small[1]),
        "n_mid": str(rng.randint(11, 99)),
        "n_mid2": str(rng.randint(11, 99)),
        "n_big": str(rng.randint(120, 990)),
        "pct": str(rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 75))),
        "price": str(rng.randint(2, 60)),
        "speed": str(rng.randrange(20, 130, 5)),
        "hours": str(rng.randint(2, 9)),
        "grams": str(rng.randrange(50, 600, 25)),
        "goods": pick(rng, GOODS),
        "unit": unit,
        "room": room,
        "unit_from": unit_from,
        "unit_to": unit_to,
        "comparative": comparative,
        "superlative": rng.choice((superlative, least)),
        "coef": str(coef),
        "offset": str(offset),
        "total": str(coef * solution + offset),
        "vehicle": pick(rng, VEHICLES),
        "things": pick(rng, THINGS),
    }


def render_pattern(pattern: str, values: Mapping[str, str]) -> str:
    """Substitute the slots and fix the articles; the first letter stays as the pattern or filler has it."""
    return fix_articles(re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], pattern))


def fill_pattern(pattern: str, rng: random.Random) -> str:
    """Draw a pattern's slots and render it as a sentence: `fill_pattern("Explain {topic}.", rng)`."""
    return capitalize(render_pattern(pattern, fill_slots(pattern, rng)))


def slot_bases(pattern: str) -> set[str]:
    """The word lists a pattern draws from: `slot_bases("{topic} and {topic2}")` -> {"topic"}."""
    return {name.rstrip("0123456789") for name in re.findall(r"\{(\w+)\}", pattern)}


def draw_instruction(template: Template, rng: random.Random) -> tuple[str, dict[str, str]]:
    """A template's instruction, sometimes framed by a prefix or suffix, and the slot values drawn for it."""
    prefix = pick(rng, PREFIXES) if rng.random() < PREFIX_SHARE else ""
    suffixes = [suffix for suffix in SUFFIXES if not slot_bases(suffix) & slot_bases(prefix)]  # no "For X, ... For Y."
    suffix = pick(rng, suffixes) if rng.random() < SUFFIX_SHARE else ""
    values = fill_slots(prefix + template.pattern + suffix, rng)
    core = render_pattern(template.pattern, values)
    if prefix and not template.pattern.startswith("{"):  # a fixed first word is no proper noun: lower it
        core = core[:1].lower() + core[1:]
    framed = render_pattern(prefix, values) + core if prefix else capitalize(core)
    return (f"{framed} {render_pattern(suffix, values)}" if suffix else framed), values


def draw_task(rng: random.Random, input_share: float = INPUT_SHARE) -> Example:
    """A well-formed task: instruction, input ("" when none) and a plausible output of 5-80 words."""
    templates = TEMPLATES_WITH_INPUT if rng.random() < input_share else TEMPLATES_WITHOUT_INPUT
    template = templates[rng.randrange(len(templates))]
    instruction, values = draw_instruction(template, rng)
    material = INPUT_BUILDERS[template.input_kind](values, rng) if template.input_kind else Material()
    output = OUTPUT_BUILDERS[template.output_kind](values, material, rng)
    if template.category != "coding":  # code keeps its "a in b"; prose gets "an owl", not "a owl"
        output = fix_articles(output)
    return Example(instruction=instruction, input=material.text, output=output)


# ---- inputs --------------------------------------------------------------------------------------------------------


def topic_of(values: Mapping[str, str], rng: random.Random) -> str:
    """The task's topic, or a random one when its template has none (inputs still need a subject)."""
    return values.get("topic") or pick(rng, TOPICS)


def sentence_about(topic: str, shape: str, rng: random.Random) -> str:
    """One plausible sentence on a topic, in one of SENTENCE_SHAPES."""
    return fix_articles(
        shape.format(
            T=capitalize(topic),
            t=topic,
            a=pick(rng, AUDIENCES),
            n=rng.randint(12, 88),
            Name=pick(rng, NAMES),
            p=pick(rng, PLACES),
            s=pick(rng, FIRST_STEPS),
            c=pick(rng, CORE_IDEAS),
        )
    )


def paragraph_input(values: Mapping[str, str], rng: random.Random) -> Material:
    topic = topic_of(values, rng)
    shapes = rng.sample(SENTENCE_SHAPES, rng.randint(2, 4))
    return Material(text=" ".join(sentence_about(topic, shape, rng) for shape in shapes), topic=topic)


def notes_input(values: Mapping[str, str], rng: random.Random) -> Material:
    topic = topic_of(values, rng)
    notes = [
        f"- {pick(rng, ACTIONS).lower()} {topic}",
        f"- {pick(rng, BENEFITS)}",
        f"- key idea: {pick(rng, CORE_IDEAS)}",
        f"- next step: {pick(rng, FIRST_STEPS)}",
    ]
    return Material(text="\n".join(notes[: rng.randint(3, 4)]), topic=topic)


def review_input(values: Mapping[str, str], rng: random.Random) -> Material:
    label = pick(rng, ("positive", "negative", "neutral"))
    bank = {"positive": POSITIVE_PHRASES, "negative": NEGATIVE_PHRASES, "neutral": NEUTRAL_PHRASES}[label]
    labels = next(
        labels for labels in LABEL_SETS if ", ".join(labels[:-1]) + " or " + labels[-1] == values["label_set"]
    )
    mapped = labels[min(("positive", "negative", "neutral").index(label), len(labels) - 1)]
    sentences = rng.sample(bank, 2)
    return Material(
        text=f"I bought this {rng.randint(2, 11)} weeks ago. {sentences[0]}. {sentences[1]}.", label=mapped
    )


def statement_input(values: Mapping[str, str], rng: random.Random) -> Material:
    if rng.random() < 0.5:
        return Material(text=pick(rng, FACTS), label="fact")
    topic = topic_of(values, rng)
    return Material(text=f"{pick(rng, OPINION_OPENERS)} {topic} {pick(rng, OPINION_CLAIMS)}.", label="opinion")


def category_items_input(values: Mapping[str, str], rng: random.Random) -> Material:
    first, second = CATEGORY_PAIRS[values["category_pair"]]
    chosen = rng.sample(first, 3) + rng.sample(second, 3)
    shown = rng.sample(chosen, len(chosen))
    return Material(text=", ".join(shown), items=tuple(chosen))


def message_input(values: Mapping[str, str], rng: random.Random) -> Material:
    labels = next(
        labels for labels in MESSAGE_LABELS if ", ".join(labels[:-1]) + " or " + labels[-1] == values["message_labels"]
    )
    label = pick(rng, labels)
    bodies = (
        "Hi, my order #{n} arrived damaged and I would like to know what to do next.",
        "Hello! Do you offer a discount for groups of {n} or more?",
        "Thank you so much, the team at the counter was wonderful last Saturday.",
        "I was charged twice for invoice {n}. Please fix this as soon as possible.",
        "Can you tell me when the package with tracking number {n} will arrive?",
    )
    return Material(text=pick(rng, bodies).format(n=rng.randint(1000, 99999)), label=label)


def device_sentence_input(values: Mapping[str, str], rng: random.Random) -> Material:
    return Material(text=DEVICE_SENTENCES[values["device"]], label=values["device"])


def argument_input(values: Mapping[str, str], rng: random.Random) -> Material:
    fallacy, shape = FALLACIES[rng.randrange(len(FALLACIES))]
    return Material(text=shape.format(topic=topic_of(values, rng)), label=fallacy)


def flawed_sentence_input(values: Mapping[str, str], rng: random.Random) -> Material:
    correct = pick(rng, ERROR_SENTENCES).format(name=pick(rng, NAMES), noun=pick(rng, NOUNS))
    applicable = [pair for pair in SPELLING_ERRORS if re.search(rf"\b{pair[0]}\b", correct)]
    flawed = correct
    for right, wrong in rng.sample(applicable, 2):
        flawed = re.sub(rf"\b{right}\b", wrong, flawed, count=1)
    return Material(text=flawed, label=correct)


def jargon_paragraph_input(values: Mapping[str, str], rng: random.Random) -> Material:
    first, second = rng.sample(JARGON, 2)
    topic = topic_of(values, rng)
    text = (
        f"Going forward, we need to {first[0]} our work on {topic} and {second[0]} with the team "
        f"before the next review."
    )
    plain = text.replace(first[0], first[1]).replace(second[0], second[1]).replace("Going forward", "From now on")
    return Material(text=text, label=plain)


def entity_paragraph_input(values: Mapping[str, str], rng: random.Random) -> Material:
    people = rng.sample(NAMES, 2)
    cities = rng.sample(("Lyon", "Osaka", "Denver", "Porto", "Accra", "Quito", "Perth", "Bergen"), 2)
    company = pick(rng, ("Northwind Labs", "Bluefin Foods", "Acme Robotics", "Greenleaf Bank", "Orbit Media"))
    month, day = pick(rng, ("March", "June", "October", "January")), rng.randint(1, 28)
    text = (
        f"On {month} {day}, {people[0]}, a {pick(rng, PEOPLE).split(' ', 1)[1]} at {company}, flew from "
        f"{cities[0]} to {cities[1]} to meet {people[1]} and sign a deal worth {rng.randint(2, 90)} million dollars."
    )
    return Material(text=fix_articles(text), items=(*people, *cities, company, f"{month} {day}"))


def rank_items_input(values: Mapping[str, str], rng: random.Random) -> Material:
    chosen = rng.sample(RANK_GROUPS[values["rank_group"]], 4)
    return Material(text=", ".join(chosen), items=tuple(chosen))


def numbers_input(values: Mapping[str, str], rng: random.Random) -> Material:
    numbers = tuple(rng.randint(3, 97) for _ in range(rng.choice((5, 7))))
    return Material(text=", ".join(map(str, numbers)), numbers=numbers)


def email_input(values: Mapping[str, str], rng: random.Random) -> Material:
    sender, topic = pick(rng, NAMES), topic_of(values, rng)
    return Material(
        text=f"Hi,\n\nCould we meet next week to talk about {topic}? I have a few questions about "
        f"the budget and the timeline.\n\nThanks,\n{sender}",
        topic=topic,
    )


def story_opening_input(values: Mapping[str, str], rng: random.Random) -> Material:
    name, place = pick(rng, NAMES), pick(rng, PLACES)
    return Material(
        text=f"The {pick(rng, NOUNS)} in {place} had been silent for years, until the night {name} "
        f"heard a knock that nobody else seemed to hear."
    )


def code_input(values: Mapping[str, str], rng: random.Random) -> Material:
    task = CODE_TASKS[rng.randrange(len(CODE_TASKS))]
    return Material(text=f"def {task.name}:\n    {task.body}", label=task.description, items=(task.name,))


def buggy_code_input(values: Mapping[str, str], rng: random.Random) -> Material:
    task = next(task for task in CODE_TASKS if task.description == values["code_task"])
    buggy = task.body.replace(task.bug[0], task.bug[1], 1)
    return Material(text=f"def {task.name}:\n    {buggy}", label=f"def {task.name}:\n    {task.body}", items=task.bug)


InputBuilder = Callable[[Mapping[str, str], random.Random], Material]
INPUT_BUILDERS: dict[str, InputBuilder] = {
    "paragraph": paragraph_input,
    "notes": notes_input,
    "review": review_input,
    "statement": statement_input,
    "category_items": category_items_input,
    "message": message_input,
    "device_sentence": device_sentence_input,
    "argument": argument_input,
    "flawed_sentence": flawed_sentence_input,
    "jargon_paragraph": jargon_paragraph_input,
    "entity_paragraph": entity_paragraph_input,
    "rank_items": rank_items_input,
    "numbers": numbers_input,
    "email": email_input,
    "story_opening": story_opening_input,
    "code": code_input,
    "buggy_code": buggy_code_input,
}

# ---- outputs -------------------------------------------------------------------------------------------------------


SUBJECT_SLOTS = (
    "topic", "phenomenon", "hypothetical", "mechanism", "choice", "process", "goal", "code_goal", "figure", "term",
    "product", "skill", "try_activity", "occasion", "problem", "myth", "activity", "business",
)  # fmt: skip


def subject_of(values: Mapping[str, str], rng: random.Random, input_topic: str = "") -> str:
    """What the answer talks about: the first subject-like slot of the task, else the input's topic."""
    slot = next((slot for slot in SUBJECT_SLOTS if slot in values), "")
    return values[slot] if slot else input_topic or pick(rng, TOPICS)


def prose_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    subject = subject_of(values, rng, material.topic)
    sentences = [
        f"{capitalize(subject)} comes down to {pick(rng, CORE_IDEAS)}.",
        f"The main reason it matters is that {pick(rng, BENEFITS)}.",
        f"A good way to begin is to {pick(rng, FIRST_STEPS)}.",
        f"For {values.get('audience', pick(rng, AUDIENCES))}, the key point is that {pick(rng, BENEFITS)}.",
        f"Keep in mind that {subject} looks different in {pick(rng, PLACES)} than elsewhere.",
    ]
    return " ".join(rng.sample(sentences, rng.randint(2, 4)))


def list_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    count = COUNTS.index(values["count"]) + 3 if values.get("count") in COUNTS else rng.randint(3, 5)
    subject = subject_of(values, rng, material.topic)
    actions = rng.sample(ACTIONS, count)
    return "\n".join(f"{n}. {action} {subject}." for n, action in enumerate(actions, start=1))


def poem_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    subject = subject_of(values, rng, material.topic)
    first, second = rng.sample(NOUNS, 2)
    adjectives = rng.sample(POEM_ADJECTIVES, 3)
    return (
        f"Beneath the {adjectives[0]} {first} of {subject},\nwe count the hours, {adjectives[1]} and slow;\n"
        f"a {adjectives[2]} {second} keeps its promise,\nand teaches us the way to go."
    )


def letter_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    recipient = values.get("person") or values.get("audience") or "friend"
    subject = subject_of(values, rng, material.topic)
    return (
        f"Dear {recipient.removeprefix('a ').removeprefix('an ')},\n\nI hope you are well. I am writing about "
        f"{subject}, because {pick(rng, BENEFITS)}. Could you share how you would {pick(rng, FIRST_STEPS)}?\n\n"
        f"Best regards,\n{pick(rng, NAMES)}"
    )


def form_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    if values.get("form") in POEM_FORMS:
        return poem_output(values, material, rng)
    if values.get("form") in LETTER_FORMS:
        return letter_output(values, material, rng)
    return prose_output(values, material, rng)


def title_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    subject = subject_of(values, rng, material.topic)
    return (
        f'"The {capitalize(pick(rng, POEM_ADJECTIVES))} {capitalize(pick(rng, NOUNS))}: {capitalize(subject)} '
        f'for Everyone"'
    )


def dialogue_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    subject = subject_of(values, rng, material.topic)
    return (
        f"A: Have you thought much about {subject}?\nB: A little. I read that {pick(rng, BENEFITS)}.\n"
        f"A: Really? Where should I start?\nB: I would {pick(rng, FIRST_STEPS)}."
    )


def story_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    name, place = pick(rng, NAMES), values.get("place") or pick(rng, PLACES)
    return (
        f"{name} had lived in {place} long enough to know every {pick(rng, NOUNS)} by heart. Still, that "
        f"morning felt different: the air was {pick(rng, POEM_ADJECTIVES)}, and a letter waited on the step."
    )


def label_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return f"{capitalize(material.label)}. The wording of the input points clearly to this answer."


def tone_label_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    tone = pick(rng, (values["tone"], values["tone2"]))
    return f"It sounds {tone}: the word choice and sentence rhythm create a {tone} impression."


def groups_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    first, second = values["category_pair"].split(" and ", 1)
    return (
        f"{capitalize(first)}: {', '.join(material.items[:3])}\n{capitalize(second)}: {', '.join(material.items[3:])}"
    )


def rewrite_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    if material.label:  # the input builder already knows the clean version
        return material.label
    words = [SYNONYMS.get(word, word) for word in material.text.split()]
    rewritten = " ".join(words)
    return rewritten if rewritten != material.text else f"Put simply, {material.text[:1].lower()}{material.text[1:]}"


def corrected_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return material.label


def summary_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    first = re.split(r"(?<=[.!?])\s|\n", material.text.strip())[0].lstrip("- ")
    return f"In short: {first[:1].lower()}{first[1:].rstrip('.')}, and {pick(rng, BENEFITS)}."


def entities_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return f"The text mentions: {', '.join(material.items)}."


def keywords_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    long_words = {w.strip(".,").lower() for w in material.text.split() if len(w.strip(".,")) > 6}
    words = sorted(long_words, key=lambda w: (len(w), w))  # not by length alone: set order varies per process
    count = COUNTS.index(values["count"]) + 3
    keywords = words[-count:] or [values["topic"]]
    return f"The most important keywords are: {', '.join(keywords)}."


def comparison_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    first, second = values["topic"], values["topic2"]
    criterion = values.get("criterion", pick(rng, CRITERIA))
    return (
        f"{capitalize(first)} and {second} differ most in {criterion}. {capitalize(first)} tends to reward "
        f"{pick(rng, CORE_IDEAS)}, while {second} depends more on {pick(rng, CORE_IDEAS)}."
    )


def pros_cons_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    pro, con = rng.sample(BENEFITS, 2)
    return (
        f"Pros: {pro}, and {pick(rng, BENEFITS)}.\nCons: it takes effort to {pick(rng, FIRST_STEPS)}, "
        f"and not everyone finds that {con.removeprefix('it ')}."
    )


def ordering_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    comparative = next(row for row in COMPARATIVES if row[0] == values["comparative"])
    answer = values["name"] if values["superlative"] == comparative[1] else values["name3"]
    return f"{answer} is the {values['superlative']}, because {values['name2']} sits between the other two."


def ranking_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    ranked = sorted(material.items, key=lambda item: (len(item), item))
    return (
        "\n".join(f"{n}. {capitalize(item)}" for n, item in enumerate(ranked, start=1))
        + f"\nThis order reflects {values['criterion']} as it matters most to {values['audience']}."
    )


def choice_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f"{capitalize(pick(rng, material.items))} would suit {values['audience']} best, because {pick(rng, BENEFITS)}."
    )


def estimate_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    people, share = rng.randrange(2000, 90000, 1000), rng.choice((2, 5, 10, 20))
    return (
        f"Assume about {people:,} people live or work in {values['place']}. If roughly one in {share} of them "
        f"accounts for one of the {values['countable']}, that gives about {people // share:,}."
    )


def code_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    task = next(task for task in CODE_TASKS if task.description == values["code_task"])
    return f'def {task.name}:\n    """{capitalize(task.description)}."""\n    {task.body}'


def code_explanation_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f"The code defines {material.items[0].split('(')[0]}, a function that {material.label}. It returns the "
        f"result directly, so the caller can use it in further calculations."
    )


def code_fix_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    correct, buggy = material.items
    return f"The bug is `{buggy or 'a missing part'}`; it should be `{correct}`. Fixed version:\n{material.label}"


def sql_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        SQL_GOALS[values["sql_goal"]].format(table=values["table"])
        + f"\nThis query reads the {values['table']} table and returns {values['sql_goal']}."
    )


def complexity_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    cost = pick(rng, ("O(n log n)", "O(n)", "O(log n)", "O(n^2)"))
    return f"{capitalize(values['algorithm'])} runs in {cost} time, because of how often it revisits each element."


def regex_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return f"{REGEX_TARGETS[values['regex_target']]}\nThis pattern matches {values['regex_target']}."


def test_cases_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    count = COUNTS.index(values["count"]) + 3
    cases = (
        "an empty input",
        "a single element",
        "a typical input",
        "negative numbers",
        "a very large input",
        "repeated values",
    )
    return "\n".join(f"{n}. Test with {case}." for n, case in enumerate(cases[:count], start=1))


def number(value: float) -> str:
    """Format a computed answer without a trailing ".0": `number(12.0)` -> "12"."""
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def math_output(expression: str, answer: float, unit: str = "") -> str:
    return f"{expression} = {number(answer)}{unit}. The answer is {number(answer)}{unit}."


def product_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    a, b = int(values["n_mid"]), int(values["n_mid2"])
    return math_output(f"{a} × {b}", a * b)


def purchase_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    count, price = int(values["n_small"]), int(values["price"])
    return math_output(f"{count} × ${price}", count * price).replace("is ", "is $", 1)


def distance_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    speed, hours = int(values["speed"]), int(values["hours"])
    return math_output(f"{speed} km/h × {hours} h", speed * hours, " km")


def percent_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    pct, base = int(values["pct"]), int(values["n_big"])
    return math_output(f"{pct}% of {base} = {pct}/100 × {base}", pct * base / 100)


def conversion_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    factor = next(f for a, b, f in UNIT_CONVERSIONS if (a, b) == (values["unit_from"], values["unit_to"]))
    amount = int(values["n_mid"])
    return math_output(f"{amount} {values['unit_from']} × {factor}", amount * factor, f" {values['unit_to']}")


def subtraction_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    have, give = int(values["n_mid"]), int(values["n_small"])
    return f"{values['name']} has {have} - {give} = {have - give} {values['things']} left."


def area_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    a, b = int(values["n_mid"]), int(values["n_mid2"])
    return math_output(f"{a} × {b}", a * b, f" square {values['unit']}s")


def equation_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    coef, offset, total = int(values["coef"]), int(values["offset"]), int(values["total"])
    solution = (total - offset) // coef
    return f"Subtract {offset} from both sides: {coef}x = {total - offset}. Divide by {coef}: x = {solution}."


def statistic_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    value = STATS[values["stat"]](list(material.numbers))
    return f"The {values['stat']} of the {len(material.numbers)} values is {number(value)}."


def sorted_numbers_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    descending = "descending" in values["sort_order"] or "highest to lowest" in values["sort_order"]
    ordered = sorted(material.numbers, reverse=descending)
    return f"In {values['sort_order']}: {', '.join(map(str, ordered))}."


def scaling_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    grams, old, new = int(values["grams"]), int(values["n_small"]), int(values["n_small2"])
    return math_output(f"{grams} g ÷ {old} × {new}", grams / old * new, " g")


def discount_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    price, pct = int(values["price"]), int(values["pct"])
    return f"The discount is ${number(price * pct / 100)}, so the final price is ${number(price * (100 - pct) / 100)}."


def definition_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f"{capitalize(values['term'])} describes {pick(rng, CORE_IDEAS)}. For example, in {values['domain']}, "
        f"it shows up when people {pick(rng, FIRST_STEPS)}."
    )


def myth_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return f"No. The claim that {values['myth']} is a popular myth that research does not support."


def plan_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    unit = "Week" if "week" in values["duration"] and values["duration"] != "weekend" else "Day"
    subject = subject_of(values, rng, material.topic) if "place" not in values else values["place"]
    steps = rng.sample(ACTIONS, 3)
    return "\n".join(f"{unit} {n}: {step} {subject}." for n, step in enumerate(steps, start=1))


def recipe_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    first, second = values["ingredient"], values["ingredient2"]
    return (
        f"Ingredients: {first}, {second}, olive oil, garlic, salt.\nSteps: 1. Chop the {first} and {second}. "
        f"2. Saute the garlic in oil. 3. Add everything and cook for {rng.randint(10, 25)} minutes. 4. Season "
        f"and serve."
    )


def steps_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    steps = rng.sample(FIRST_STEPS, 4)
    return "\n".join(f"{n}. {capitalize(step)}." for n, step in enumerate(steps, start=1))


def names_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    count = COUNTS.index(values["count"]) + 3
    pairs = [
        f"{capitalize(adjective)} {capitalize(noun)}"
        for adjective, noun in zip(rng.sample(POEM_ADJECTIVES, count), rng.sample(NOUNS, count), strict=True)
    ]
    return "\n".join(f"{n}. {name}" for n, name in enumerate(pairs, start=1))


def questions_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    count = COUNTS.index(values["count"]) + 3
    subject = subject_of(values, rng, material.topic) if "topic" in values else "this"
    shapes = (
        "What first got you interested in {s}?",
        "What is the biggest misconception about {s}?",
        "How has {s} changed in recent years?",
        "What would you tell a beginner about {s}?",
        "Which mistake do people make most often with {s}?",
        "Where do you see {s} in ten years?",
    )
    return "\n".join(f"{n}. {q.format(s=subject)}" for n, q in enumerate(shapes[:count], start=1))


def feedback_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f"The text is clear and easy to follow. To improve it, open with the main point, cut repeated "
        f"phrases, and end with one concrete suggestion, since {pick(rng, BENEFITS)}."
    )


def proverb_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f'For {values["audience"]}: the saying "{values["proverb"]}" means that {pick(rng, CORE_IDEAS)} '
        f"matters, so {pick(rng, FIRST_STEPS)} before it is too late."
    )


def idiom_output(values: Mapping[str, str], material: Material, rng: random.Random) -> str:
    return (
        f'"{capitalize(values["idiom"])}" is an informal phrase. For {values["audience"]}, think of it as a '
        f"colorful way to say something about {pick(rng, CORE_IDEAS)}."
    )


OutputBuilder = Callable[[Mapping[str, str], Material, random.Random], str]
OUTPUT_BUILDERS: dict[str, OutputBuilder] = {
    "prose": prose_output,
    "list": list_output,
    "poem": poem_output,
    "letter": letter_output,
    "form": form_output,
    "title": title_output,
    "dialogue": dialogue_output,
    "story": story_output,
    "label": label_output,
    "tone_label": tone_label_output,
    "groups": groups_output,
    "rewrite": rewrite_output,
    "corrected": corrected_output,
    "summary": summary_output,
    "entities": entities_output,
    "keywords": keywords_output,
    "comparison": comparison_output,
    "pros_cons": pros_cons_output,
    "ordering": ordering_output,
    "ranking": ranking_output,
    "choice": choice_output,
    "estimate": estimate_output,
    "code": code_output,
    "code_explanation": code_explanation_output,
    "code_fix": code_fix_output,
    "sql": sql_output,
    "complexity": complexity_output,
    "regex": regex_output,
    "test_cases": test_cases_output,
    "product": product_output,
    "purchase": purchase_output,
    "distance": distance_output,
    "percent": percent_output,
    "conversion": conversion_output,
    "subtraction": subtraction_output,
    "area": area_output,
    "equation": equation_output,
    "statistic": statistic_output,
    "sorted_numbers": sorted_numbers_output,
    "scaling": scaling_output,
    "discount": discount_output,
    "definition": definition_output,
    "myth": myth_output,
    "plan": plan_output,
    "recipe": recipe_output,
    "steps": steps_output,
    "names": names_output,
    "questions": questions_output,
    "feedback": feedback_output,
    "proverb": proverb_output,
    "idiom": idiom_output,
}

# ---- answers: task lists in the bootstrap format, with defects and drift ----------------------------------------

DEFAULT_NUM_TASKS = 20  # the list length when a prompt does not say "List of N tasks:"
DRIFT_KINDS = ("missing_separator", "extra_whitespace", "skipped_number")
MALFORMED_KINDS = (
    "short_instruction", "blocklisted_word", "write_a_program", "leading_punctuation", "non_ascii_start",
    "empty_output", "placeholder_output", "leaked_next_task", "url_input", "attachment_input",
    "input_equals_output", "missing_output", "noinput_variant",
)  # fmt: skip
NUM_TASKS_PATTERN = re.compile(r"List of (\d+) tasks:")
FINAL_HEADER_PATTERN = re.compile(r"(\d+)\.\s*Instruction:\s*$")
DEMONSTRATION_PATTERN = re.compile(
    r"^(\d+)\. Instruction:[ \t]*(.*?)\n\1\. Input:\n(.*?)\n\1\. Output:\n(.*?)(?=\n###|\Z)", re.DOTALL | re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class PromptFacts:
    """What the simulator reads from a bootstrap prompt."""

    first_index: int  # number of the first task to write
    num_tasks: int  # the list length the prompt asks for
    demonstrations: tuple[Example, ...]
    ends_with_header: bool  # the prompt ends with "{first_index}. Instruction:", so a completion continues it


@dataclass(frozen=True, slots=True)
class Block:
    """One numbered task of an answer, as the teacher writes it (possibly defective)."""

    number: int
    example: Example
    input_marker: str = NO_INPUT  # written in place of an empty input
    has_output: bool = True


def read_prompt(prompt_text: str) -> PromptFacts:
    """Parse the list length, the demonstrations and the number to continue from."""
    demonstrations = tuple(
        Example(instruction.strip(), "" if task_input.strip() == NO_INPUT else task_input.strip(), output.strip())
        for _, instruction, task_input, output in DEMONSTRATION_PATTERN.findall(prompt_text)
    )
    asked = NUM_TASKS_PATTERN.search(prompt_text)
    header = FINAL_HEADER_PATTERN.search(prompt_text)
    first_index = int(header.group(1)) if header else len(demonstrations) + 1
    num_tasks = int(asked.group(1)) if asked else DEFAULT_NUM_TASKS
    return PromptFacts(first_index, max(num_tasks, first_index), demonstrations, header is not None)


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer: lower-case, every run of non-alphanumerics separates tokens."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def rouge_l(first: str, second: str) -> float:
    """ROUGE-L F-measure, 2·LCS/(len_a + len_b): `rouge_l("Add 2 and 3.", "Please add 2 and 3.")` -> 0.888..."""
    a, b = rouge_tokens(first), rouge_tokens(second)
    if not a or not b:
        return 0.0
    row = [0] * (len(b) + 1)
    for token in a:
        diagonal = 0
        for j, other in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if token == other else max(row[j], row[j - 1])
    return 2 * row[-1] / (len(a) + len(b))


# One-token swaps, so a one-word edit keeps LCS = n - 1 (F = (n-1)/n > 0.7 from n = 4 tokens on).
WORD_SWAPS = {
    "write": "compose", "compose": "write", "short": "brief", "brief": "short", "list": "name", "give": "provide",
    "explain": "describe", "describe": "explain", "create": "make", "suggest": "propose", "following": "given",
    "find": "identify", "three": "four", "four": "five", "five": "three", "main": "key", "story": "tale",
    "important": "key", "simple": "basic", "the": "this", "about": "on",
}  # fmt: skip


def near_duplicate(source: Example, rng: random.Random) -> Example:
    """Copy a task with a tiny edit (one word swapped, or "Please" added) so ROUGE-L to it stays above 0.7."""
    words = source.instruction.split()
    swappable = [i for i, word in enumerate(words) if word.lower() in WORD_SWAPS]
    if swappable and rng.random() < 0.5:
        i = rng.choice(swappable)
        swap = WORD_SWAPS[words[i].lower()]
        words[i] = capitalize(swap) if words[i][:1].isupper() else swap
        edited = " ".join(words)
    else:
        edited = f"Please {source.instruction[:1].lower()}{source.instruction[1:]}"
    if rouge_l(edited, source.instruction) <= 0.7:  # too short to survive an edit: copy it as it is
        edited = source.instruction
    return replace(source, instruction=edited)


SHORT_INSTRUCTIONS = ("Summarize this.", "Continue the story.", "Be creative.", "Translate this text.", "Fix it.")
SHORT_VERBS = ("explain", "define", "describe", "discuss", "summarize")
BLOCKLISTED_PATTERNS = (
    "Draw a diagram of {topic} for {audience}.", "Create a flowchart that shows how to {process}.",
    "Describe the image of {place} below in a {tone} tone.", "Plot a graph of {measure} over the last year.",
    "Compose music for {occasion} that mentions {topic}.", "Go to {place} and describe what you see.",
    "Summarize the video about {topic} for {audience}.", "Generate a picture of {topic} in a {tone} style.",
    "Transcribe the audio of {person} talking about {topic}.", "Open the file of {measure} and count its rows.",
    "Draw a map of {place} for {audience}.",
)  # fmt: skip
URL_INSTRUCTIONS = (
    "Summarize the article at the link below.", "What is the main argument of this blog post?",
    "List the key points of the page below for {audience}.", "Check the facts in this news story about {topic}.",
)  # fmt: skip
ATTACHMENTS = ("<image>", "[attached: photo.jpg]", "<attachment: report.pdf>", '<img src="chart.png">')
NOINPUT_VARIANTS = ("<no input>", "No input", "N/A", "None", "<No Input>", "(no input)")
NON_ASCII_PREFIXES = ("• ", "→ ", "“", "– ", "★ ", "¿")
PUNCTUATION_PREFIXES = ("- ", "* ", '"', "... ", "(", ": ")


def malformed_block(kind: str, number: int, rng: random.Random) -> Block:
    """An item broken in the given way (one of MALFORMED_KINDS); the rest of it is a normal task."""
    task = draw_task(rng)
    if kind == "short_instruction":
        one_word_topics = [topic for topic in TOPICS if " " not in topic]
        short = f"{capitalize(pick(rng, SHORT_VERBS))} {pick(rng, one_word_topics)}."
        return Block(number, replace(task, instruction=rng.choice((short, pick(rng, SHORT_INSTRUCTIONS)))))
    if kind == "blocklisted_word":
        return Block(number, replace(task, instruction=fill_pattern(pick(rng, BLOCKLISTED_PATTERNS), rng)))
    if kind == "write_a_program":
        code_task = CODE_TASKS[rng.randrange(len(CODE_TASKS))]
        code = f"def {code_task.name}:\n    {code_task.body}"
        return Block(number, Example(f"Write a program that {code_task.description}.", "", code))
    if kind == "leading_punctuation":
        return Block(number, replace(task, instruction=pick(rng, PUNCTUATION_PREFIXES) + task.instruction))
    if kind == "non_ascii_start":
        return Block(number, replace(task, instruction=pick(rng, NON_ASCII_PREFIXES) + task.instruction))
    if kind == "empty_output":
        return Block(number, replace(task, output=""))
    if kind == "placeholder_output":
        return Block(number, replace(task, output=rng.choice(("N/A", "<nooutput>"))))
    if kind == "leaked_next_task":
        leaked = f"{task.output}\n{number + 1}. Instruction: {draw_task(rng).instruction}"
        return Block(number, replace(task, output=leaked))
    if kind == "url_input":
        slug = "-".join(rng.sample(NOUNS, 3))
        url = f"https://www.{pick(rng, NOUNS)}news.com/{rng.randint(2015, 2025)}/{slug}"
        return Block(number, replace(task, instruction=fill_pattern(pick(rng, URL_INSTRUCTIONS), rng), input=url))
    if kind == "attachment_input":
        instruction = f"Summarize the attached document for {pick(rng, AUDIENCES)}."
        return Block(number, replace(task, instruction=instruction, input=pick(rng, ATTACHMENTS)))
    if kind == "input_equals_output":
        return Block(number, replace(task, input=task.input or task.output, output=task.input or task.output))
    if kind == "missing_output":
        return Block(number, task, has_output=False)
    if kind == "noinput_variant":
        return Block(number, draw_task(rng, input_share=0.0), input_marker=pick(rng, NOINPUT_VARIANTS))
    raise ValueError(f"unknown malformed kind {kind!r}; choose from {MALFORMED_KINDS}")


def draw_blocks(
    facts: PromptFacts, rng: random.Random, near_duplicate_share: float, malformed_share: float
) -> list[Block]:
    """Tasks first_index..num_tasks: well-formed, near-duplicate or malformed in the given shares."""
    blocks: list[Block] = []
    for number in range(facts.first_index, facts.num_tasks + 1):
        roll = rng.random()
        sources = facts.demonstrations + tuple(block.example for block in blocks)
        if roll < near_duplicate_share and sources:
            blocks.append(Block(number, near_duplicate(sources[rng.randrange(len(sources))], rng)))
        elif roll < near_duplicate_share + malformed_share:
            blocks.append(malformed_block(pick(rng, MALFORMED_KINDS), number, rng))
        else:
            blocks.append(Block(number, draw_task(rng)))
    return blocks


def render_block(block: Block) -> str:
    """A block in the demonstrations' format, without separators."""
    n, example = block.number, block.example
    text = f"{n}. Instruction: {example.instruction}\n{n}. Input:\n{example.input or block.input_marker}"
    return f"{text}\n{n}. Output:\n{example.output}" if block.has_output else text


def skip_number(blocks: list[Block], rng: random.Random) -> list[Block]:
    """Drift: the numbering jumps by one at a random item, and the list still ends at num_tasks."""
    if len(blocks) < 3:
        return blocks
    at = rng.randrange(1, len(blocks) - 1)
    return blocks[:at] + [replace(block, number=block.number + 1) for block in blocks[at:-1]]


def render_answer(blocks: list[Block], drift: str, rng: random.Random) -> str:
    """Join the blocks with `###` lines, drifting from the format as asked."""
    separators = [f"\n{BLOCK_SEPARATOR}\n"] * (len(blocks) - 1)
    texts = [render_block(block) for block in blocks]
    if drift == "missing_separator" and separators:
        separators[rng.randrange(len(separators))] = "\n"
    if drift == "extra_whitespace" and separators:
        for i in rng.sample(range(len(separators)), max(1, len(separators) // 3)):
            separators[i] = pick(rng, ("\n\n###\n", "\n###\n\n", "  \n\n###\n\n"))
            texts[i + 1] = texts[i + 1].replace("Input:\n", "Input: \n", 1)  # trailing blank after a header
    return texts[0] + "".join(separator + text for separator, text in zip(separators, texts[1:], strict=True))


def truncate(text: str, rng: random.Random) -> str:
    """Cut an answer somewhere in its second half, as a max_tokens cut-off would."""
    return text[: rng.randint(len(text) // 2, max(len(text) // 2, len(text) - 2))]


def garbage_text(rng: random.Random) -> str:
    """A 200 answer that is no task list at all."""
    words = [word for topic in rng.sample(TOPICS, 12) for word in topic.split()]
    return rng.choice((
        "I'm sorry, but I can't help with that request.",
        " ".join(rng.sample(words, len(words))),
        json.dumps({"status": "ok", "items": rng.sample(NOUNS, 4)}),
        "<|endoftext|>" * rng.randint(1, 5),
    ))  # fmt: skip
