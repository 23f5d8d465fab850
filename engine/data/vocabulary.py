"""The open-vocabulary word list for the "repeat after me" / "say the word" skill.

About 1400 common English words, every one present in the pocketsphinx US-English dictionary so that the
evaluation judge can spot it. `is_held_out()` deterministically reserves a slice of them for the test
split only: the engine never hears or says those words in training, so test accuracy on them measures real
listening and speaking, not memorisation.
"""

from __future__ import annotations

import hashlib

_WORDS = """
    apple banana cherry grape lemon lime mango melon orange peach pear plum berry strawberry raspberry
    blueberry coconut olive onion garlic pepper carrot potato tomato cabbage lettuce celery pumpkin
    squash bean pea corn rice wheat bread butter cheese cream milk yogurt honey sugar salt flour pasta
    noodle soup salad sandwich burger pizza cookie cake pie muffin bagel toast cereal oatmeal pancake
    waffle syrup jam jelly egg bacon ham sausage chicken turkey beef pork lamb fish salmon tuna shrimp
    lobster crab oyster steak coffee tea juice water soda lemonade chocolate candy popcorn pretzel
    cracker almond peanut walnut cashew raisin vinegar mustard ketchup sauce gravy spice cinnamon
    vanilla ginger mint basil parsley dog cat horse cow pig sheep goat duck goose rabbit mouse rat
    squirrel deer moose bear wolf fox lion tiger leopard cheetah zebra giraffe elephant rhino hippo
    monkey gorilla camel kangaroo koala panda otter beaver badger raccoon skunk hedgehog turtle tortoise
    frog toad snake lizard crocodile alligator dolphin whale shark octopus squid jellyfish starfish seal
    walrus penguin eagle hawk falcon owl parrot pigeon crow raven robin sparrow swan peacock flamingo
    ostrich butterfly bee wasp ant spider beetle cricket grasshopper mosquito worm snail bat donkey mule
    buffalo bison table chair sofa couch bed desk lamp shelf cabinet drawer mirror clock window door
    curtain carpet rug pillow blanket sheet towel basket bucket bottle jar cup mug glass plate bowl
    spoon fork knife pan pot kettle oven stove fridge freezer sink faucet toilet shower bathtub soap
    shampoo brush comb razor sponge broom mop vacuum hammer nail screw wrench drill saw ladder rope
    chain hook key lock candle match lighter battery cable wire plug switch button handle pipe hose fan
    heater radio television camera phone computer laptop keyboard screen printer speaker headphones
    microphone tablet charger remote wallet purse backpack suitcase umbrella glove scarf hat cap helmet
    jacket coat sweater shirt blouse skirt dress trousers jeans shorts sock shoe boot sandal slipper
    belt tie ribbon zipper pocket collar sleeve necklace bracelet ring earring watch glasses pencil pen
    marker crayon eraser ruler notebook paper envelope stamp letter postcard book magazine newspaper
    calendar map globe ticket coin dollar penny house home apartment cottage cabin castle palace tower
    bridge tunnel road street avenue highway path trail sidewalk corner garden yard fence gate garage
    roof wall floor ceiling stairs basement attic kitchen bedroom bathroom hallway office library museum
    school college university hospital clinic pharmacy bank bakery market store shop mall restaurant
    cafe hotel airport station harbor port church temple theater cinema stadium gym park playground zoo
    farm barn factory warehouse prison village town city country island mountain hill valley canyon
    cliff cave desert forest jungle meadow field river stream lake pond ocean sea beach coast bay
    waterfall volcano glacier swamp sun moon star planet comet galaxy sky cloud rain snow hail storm
    thunder lightning wind breeze fog mist rainbow frost ice fire smoke flame ash dust sand mud rock
    stone pebble gold silver copper iron steel bronze metal wood plastic rubber leather cotton wool silk
    cardboard crystal diamond pearl ruby emerald marble brick concrete clay car truck bus train tram
    taxi bicycle motorcycle scooter boat ship canoe kayak yacht submarine airplane helicopter rocket
    balloon wagon cart tractor ambulance engine wheel tire brake anchor sail paddle doctor nurse teacher
    student farmer baker butcher chef cook pilot driver sailor soldier captain king queen prince
    princess knight wizard witch pirate artist painter singer dancer actor writer poet author musician
    drummer guitarist pianist lawyer judge police detective firefighter plumber carpenter builder
    engineer scientist dentist banker clerk waiter waitress cashier mechanic gardener hunter fisherman
    astronaut clown magician mother father sister brother daughter son aunt uncle cousin niece nephew
    grandmother grandfather baby child kid boy girl man woman friend neighbor stranger guest host
    partner husband wife family head face hair eye ear nose mouth lip tooth tongue chin cheek neck
    shoulder arm elbow wrist hand finger thumb chest back stomach hip leg knee ankle foot toe heel skin
    bone muscle heart lung brain blood red yellow green blue purple pink brown black white gray golden
    violet crimson scarlet turquoise beige big small large tiny huge little tall short long wide narrow
    thick thin heavy light fast slow quick early late hot cold warm cool wet dry soft hard smooth rough
    sharp dull bright dark loud quiet clean dirty new old young fresh rich poor cheap expensive happy
    sad angry calm brave shy proud kind gentle funny serious clever simple easy difficult strange normal
    famous busy lazy lucky strong weak healthy sick hungry thirsty tired sleepy awake alive empty full
    open closed round square flat deep shallow sweet sour bitter salty spicy tasty delicious beautiful
    pretty ugly handsome lovely friendly polite rude honest careful careless curious nervous excited
    bored lonely wild tame safe dangerous sudden silent noisy ancient modern wooden magic royal secret
    private public native foreign run walk jump swim climb fly drive ride skate ski dance sing play read
    write draw paint bake eat drink sleep wake sit stand lie fall rise push pull lift carry throw catch
    kick hit hold drop pick build break fix cut fold wrap close start stop finish begin follow lead meet
    greet visit travel arrive leave return enter escape hide search find lose win fail try learn teach
    study think know remember forget believe imagine dream hope wish want need like love hate enjoy
    laugh smile cry shout whisper talk speak listen hear see look notice show tell ask answer explain
    agree argue decide choose change move turn shake wave point touch feel smell taste wash wear buy
    sell pay spend save borrow lend give take bring send receive share keep collect count measure weigh
    grow plant pour fill mix stir boil fry roast freeze melt burn shine glow sparkle whistle hum knock
    call invite celebrate relax rest wait hurry worry wonder guess solve invent discover explore time
    day night morning evening afternoon week month year season spring summer autumn winter holiday
    birthday party wedding festival weekend minute hour moment future past present history idea question
    story song poem joke game puzzle riddle promise plan problem reason result example lesson message
    language word sentence number picture photo movie music sound noise voice silence color shape size
    weight price gift prize reward surprise adventure journey trip vacation dinner lunch breakfast
    supper meal snack feast picnic circle triangle rectangle cube sphere line dot arrow cross oval
    football soccer baseball basketball tennis golf hockey rugby boxing chess cards kite doll robot
    puppet teddy drum guitar piano violin flute trumpet harp banjo cello army navy battle crown sword
    shield bow spear cannon flag medal trophy treasure jewel compass telescope microscope magnet machine
    motor gear lever pulley science math art geography biology chemistry physics medicine engineering
    justice freedom peace war honor courage wisdom beauty truth kindness patience energy power strength
    health wealth luck fortune danger comfort pleasure pain fear anger joy sorrow always never often
    sometimes usually rarely soon later today tomorrow yesterday tonight already almost maybe perhaps
    probably certainly really very quite rather too enough together alone inside outside above below
    behind beside between near far away here there everywhere somewhere nowhere dragon unicorn giant
    dwarf elf fairy ghost monster vampire zombie mermaid angel demon goblin troll orbit gravity oxygen
    carbon hydrogen atom molecule cell gene virus bacteria fossil mineral north south east west left
    right center middle edge border top bottom front side pelican ferret hamster gerbil pony calf puppy
    kitten chick foal cub lantern cushion teapot saucer ladle whisk grater sieve funnel thermos tuba
    saxophone clarinet accordion xylophone tambourine harmonica apron bandana beret bonnet poncho
    raincoat overalls pajamas mittens earmuffs canal fountain lighthouse windmill skyscraper cathedral
    monument statue pyramid tent igloo hut marathon tournament champion referee coach goalkeeper nickel
    cobalt zinc tin mercury platinum granite quartz slate chalk barrel crate parcel package bundle
    pillar column arch dome noon midnight dawn dusk sunset sunrise twilight eyebrow forehead knuckle
    shin thigh spine rib skull cactus daisy rose tulip lily orchid sunflower dandelion ivy moss fern
    bamboo oak pine maple willow birch cedar palm leaf branch root seed flower bush tree grass weed vine
    thorn petal vest gown robe uniform costume tundra prairie savanna marsh reef lagoon delta plateau
    ridge summit peak slope architect sculptor composer director editor reporter librarian surgeon
    pharmacist therapist panther jaguar cougar lynx hyena jackal coyote dingo murmur giggle chuckle grin
    frown sigh yawn sneeze cough hiccup humble eager fierce graceful clumsy cheerful grumpy jolly merry
    mighty noble sturdy tender vivid blossom harvest orchard vineyard pasture stable kennel nest hive
    burrow den lair satellite spaceship observatory universe nebula asteroid meteor cider espresso latte
    cocoa milkshake broth stew curry chili taco burrito sushi dumpling omelet
"""

WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORDS.split()))
HELD_OUT_FRACTION = 0.15


def is_held_out(word: str) -> bool:
    """True when `word` belongs to the test-only slice (a stable hash, independent of list order)."""
    digest = hashlib.sha256(word.encode()).digest()
    return digest[0] < round(256 * HELD_OUT_FRACTION)
