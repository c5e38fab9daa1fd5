/// The colours ``LocalRenderer`` paints with, derived from the words of a prompt.
///
/// Colour and mood words ("red", "ocean", "forest", "sunset", "night", "pastel", …)
/// pick hues and adjust brightness or saturation; prompts without any fall back to a
/// harmonious scheme around a hue taken from the prompt's hash. Colour words that
/// appear in the negative prompt are left out, and hash-derived hues near them are
/// turned away.
struct PromptPalette: Sendable {
    /// Background gradient, top to bottom.
    var sky: [RGBColor]
    /// Colours for the soft shapes.
    var accents: [RGBColor]
    /// Ridge colours, far to near.
    var ground: [RGBColor]
    /// Colour of the sun/moon glow and sparkles.
    var glow: RGBColor
    /// Whether the mood is dark (night, space, …): more sparkles, darker sky.
    var isDark: Bool

    /// An HSV triple with integer hue (degrees) and 0...255 saturation/value.
    struct HSV: Sendable, Equatable {
        var h: Int
        var s: Int
        var v: Int
        var color: RGBColor { RGBColor(hue: h, saturation: s, value: v) }
    }

    /// Lower-case ASCII words of `text` (letters only; other bytes separate words).
    static func words(in text: String) -> [String] {
        var result: [String] = []
        var current: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): current.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): current.append(byte + 32)
            default:
                if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            }
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }

    /// Builds the palette for `prompt`, avoiding colours named in `negativeWords`.
    static func make(promptWords: [String], negativeWords: [String], promptHash: UInt64, rng: inout Xoshiro256StarStar) -> PromptPalette {
        var mood = Mood()
        var hues: [HSV] = []
        var excludedHues: [Int] = []
        let negative = Set(negativeWords.map(normalize))
        for word in negativeWords {
            if let entries = colorWords[normalize(word)] { excludedHues += entries.map(\.h) }
        }
        for raw in promptWords {
            let word = normalize(raw)
            if let m = moodWords[word] { mood.apply(m) }
            guard !negative.contains(word), let entries = colorWords[word] else { continue }
            for entry in entries where hues.count < 4 && !hues.contains(entry) { hues.append(entry) }
            if darkWords.contains(word) { mood.apply(.dark) }
        }

        if hues.isEmpty {
            // Harmonious scheme around a hue from the prompt hash, nudged a little by the seed.
            var base = Int(promptHash % 360) + rng.next(in: -20...20)
            for excluded in excludedHues where hueDistance(base, excluded) < 35 { base += 70 }
            let scheme = Int((promptHash >> 17) % 4)
            let offsets: [Int] =
                switch scheme {
                case 0: [0, 30, -30]  // analogous
                case 1: [0, 180, 20]  // complementary
                case 2: [0, 120, 240]  // triadic
                default: [0, 150, 210]  // split complementary
                }
            let s = 140 + Int((promptHash >> 23) % 80)
            let v = 180 + Int((promptHash >> 31) % 60)
            hues = offsets.map { HSV(h: base + $0, s: s, v: v) }
        } else {
            hues = hues.map { HSV(h: $0.h + rng.next(in: -8...8), s: $0.s, v: $0.v) }
        }

        hues = hues.map { mood.adjust($0) }
        let primary = hues[0]
        let secondary = hues[hues.count > 1 ? 1 : 0]
        let tertiary = hues[hues.count > 2 ? 2 : hues.count - 1]

        let sky = [
            HSV(h: primary.h + 12, s: min(primary.s + 20, 255), v: primary.v * (mood.darkness > 0 ? 30 : 62) / 100).color,
            HSV(h: secondary.h, s: secondary.s, v: secondary.v * (mood.darkness > 0 ? 55 : 85) / 100).color,
            HSV(h: tertiary.h - 8, s: tertiary.s * 80 / 100, v: min(tertiary.v * (mood.darkness > 0 ? 80 : 110) / 100, 255)).color,
        ]

        var accents: [RGBColor] = []
        for (i, hue) in hues.enumerated() {
            accents.append(hue.color)
            accents.append(HSV(h: hue.h + rng.next(in: -25...25), s: hue.s * 70 / 100, v: min(hue.v + 30, 255)).color)
            if i == 0 { accents.append(HSV(h: hue.h + 180, s: hue.s / 2, v: hue.v).color) }
        }

        let groundBase = hues[hues.count - 1]
        let ground = [
            HSV(h: groundBase.h + 10, s: groundBase.s * 60 / 100, v: groundBase.v * 55 / 100).color,
            HSV(h: groundBase.h + 20, s: groundBase.s * 70 / 100, v: groundBase.v * 35 / 100).color,
            HSV(h: groundBase.h + 25, s: groundBase.s * 75 / 100, v: groundBase.v * 18 / 100).color,
        ]
        let glow = HSV(h: primary.h + 30, s: primary.s / 3, v: 255).color
        return PromptPalette(sky: sky, accents: accents, ground: ground, glow: glow, isDark: mood.darkness > 0)
    }

    /// Strips a plural "s" from words that are only known in the singular.
    private static func normalize(_ word: String) -> String {
        if colorWords[word] != nil || moodWords[word] != nil { return word }
        if word.count > 3, word.hasSuffix("s") {
            let singular = String(word.dropLast())
            if colorWords[singular] != nil || moodWords[singular] != nil { return singular }
        }
        return word
    }

    private static func hueDistance(_ a: Int, _ b: Int) -> Int {
        let d = abs((((a - b) % 360) + 360) % 360)
        return min(d, 360 - d)
    }

    /// Brightness/saturation adjustments requested by mood words.
    enum MoodWord: Sendable { case dark, light, pastel, vivid, muted }

    struct Mood {
        var darkness = 0
        var lightness = 0
        var saturation = 0  // percent adjustment

        mutating func apply(_ word: MoodWord) {
            switch word {
            case .dark: darkness += 1
            case .light: lightness += 1
            case .pastel:
                saturation -= 45
                lightness += 1
            case .vivid: saturation += 30
            case .muted: saturation -= 50
            }
        }

        func adjust(_ c: HSV) -> HSV {
            var s = c.s * (100 + max(saturation, -80)) / 100
            var v = c.v
            if darkness > 0 { v = v * 70 / 100 }
            if lightness > 0 {
                v = min(v + 40, 255)
                s = s * 85 / 100
            }
            s = min(max(s, 0), 255)
            return HSV(h: c.h, s: s, v: min(max(v, 20), 255))
        }
    }

    private static let darkWords: Set<String> = ["night", "midnight", "space", "galaxy", "cosmic", "nebula", "starry"]

    private static let moodWords: [String: MoodWord] = [
        "dark": .dark, "night": .dark, "midnight": .dark, "noir": .dark, "shadow": .dark, "gothic": .dark,
        "space": .dark, "galaxy": .dark, "cosmic": .dark, "starry": .dark, "black": .dark, "moody": .dark,
        "bright": .light, "white": .light, "light": .light, "sunny": .light, "airy": .light,
        "pastel": .pastel, "soft": .pastel, "dreamy": .pastel, "gentle": .pastel,
        "vivid": .vivid, "vibrant": .vivid, "neon": .vivid, "saturated": .vivid, "psychedelic": .vivid,
        "grey": .muted, "gray": .muted, "fog": .muted, "foggy": .muted, "mist": .muted, "misty": .muted,
        "muted": .muted, "vintage": .muted, "faded": .muted,
    ]

    private static func hsv(_ h: Int, _ s: Int, _ v: Int) -> HSV { HSV(h: h, s: s, v: v) }

    /// Colour words and the hues they contribute.
    private static let colorWords: [String: [HSV]] = [
        "red": [hsv(0, 210, 225)], "crimson": [hsv(348, 220, 200)], "scarlet": [hsv(5, 230, 230)],
        "ruby": [hsv(345, 220, 190)], "cherry": [hsv(350, 200, 215)],
        "orange": [hsv(28, 220, 245)], "amber": [hsv(40, 220, 240)], "peach": [hsv(25, 110, 250)],
        "gold": [hsv(45, 200, 240)], "golden": [hsv(45, 200, 240)], "yellow": [hsv(55, 200, 245)],
        "lemon": [hsv(58, 180, 250)], "honey": [hsv(40, 190, 230)],
        "green": [hsv(120, 180, 190)], "lime": [hsv(90, 200, 230)], "emerald": [hsv(145, 200, 180)],
        "forest": [hsv(130, 170, 130), hsv(95, 150, 170)], "jungle": [hsv(115, 200, 150), hsv(80, 180, 190)],
        "moss": [hsv(85, 140, 140)], "mint": [hsv(150, 110, 230)], "olive": [hsv(70, 150, 150)],
        "meadow": [hsv(95, 160, 210), hsv(55, 150, 235)], "leaf": [hsv(105, 190, 180)], "garden": [hsv(110, 160, 190), hsv(330, 120, 230)],
        "teal": [hsv(180, 190, 170)], "cyan": [hsv(185, 190, 235)], "aqua": [hsv(180, 170, 235)],
        "turquoise": [hsv(175, 180, 220)],
        "blue": [hsv(215, 200, 220)], "ocean": [hsv(205, 210, 190), hsv(185, 170, 220)],
        "sea": [hsv(200, 190, 200), hsv(180, 150, 220)], "water": [hsv(195, 170, 215)],
        "lake": [hsv(200, 160, 200), hsv(120, 110, 160)], "river": [hsv(195, 160, 210)],
        "sky": [hsv(205, 140, 245)], "navy": [hsv(225, 220, 120)], "azure": [hsv(205, 170, 240)],
        "sapphire": [hsv(220, 220, 190)], "cobalt": [hsv(220, 230, 200)],
        "ice": [hsv(195, 70, 245)], "frozen": [hsv(200, 80, 240)], "glacier": [hsv(190, 90, 235)],
        "snow": [hsv(205, 35, 250), hsv(215, 70, 215)], "winter": [hsv(205, 60, 240), hsv(225, 90, 190)],
        "purple": [hsv(275, 180, 200)], "violet": [hsv(265, 160, 220)], "lavender": [hsv(265, 80, 240)],
        "magenta": [hsv(305, 200, 230)], "pink": [hsv(335, 120, 245)], "rose": [hsv(345, 140, 230)],
        "plum": [hsv(290, 150, 150)], "lilac": [hsv(280, 70, 235)],
        "sunset": [hsv(22, 220, 250), hsv(335, 160, 225), hsv(268, 150, 160)],
        "dusk": [hsv(285, 140, 170), hsv(20, 180, 230)],
        "sunrise": [hsv(35, 170, 250), hsv(350, 110, 245), hsv(210, 90, 230)],
        "dawn": [hsv(30, 140, 250), hsv(210, 80, 235)],
        "fire": [hsv(10, 240, 240), hsv(38, 240, 250)], "flame": [hsv(15, 240, 245), hsv(45, 220, 250)],
        "lava": [hsv(8, 245, 230), hsv(30, 240, 250)], "volcano": [hsv(5, 220, 200), hsv(25, 240, 240)],
        "ember": [hsv(15, 230, 220)],
        "autumn": [hsv(25, 210, 225), hsv(45, 190, 215), hsv(5, 190, 175)],
        "fall": [hsv(28, 200, 220), hsv(10, 190, 180)],
        "spring": [hsv(100, 140, 230), hsv(330, 90, 245)], "summer": [hsv(50, 170, 250), hsv(195, 160, 235)],
        "desert": [hsv(35, 130, 235), hsv(22, 160, 205)], "sand": [hsv(40, 100, 235)],
        "dune": [hsv(32, 140, 225)], "beach": [hsv(42, 90, 245), hsv(190, 160, 225)],
        "brown": [hsv(25, 170, 130)], "wood": [hsv(28, 160, 140)], "coffee": [hsv(25, 170, 110)],
        "earth": [hsv(30, 140, 140), hsv(100, 110, 140)], "chocolate": [hsv(20, 180, 100)],
        "night": [hsv(235, 170, 110), hsv(260, 140, 130)], "midnight": [hsv(240, 180, 90)],
        "space": [hsv(255, 170, 120), hsv(300, 160, 170)], "galaxy": [hsv(265, 180, 150), hsv(310, 150, 200)],
        "nebula": [hsv(290, 180, 180), hsv(200, 180, 200)], "cosmic": [hsv(270, 170, 160)],
        "aurora": [hsv(140, 200, 230), hsv(280, 150, 200), hsv(220, 180, 120)],
        "neon": [hsv(305, 230, 250), hsv(185, 230, 250)], "cyberpunk": [hsv(310, 220, 240), hsv(190, 220, 230)],
        "silver": [hsv(210, 25, 210)], "steel": [hsv(210, 50, 170)], "storm": [hsv(215, 60, 130)],
        "cloud": [hsv(210, 30, 240)], "clouds": [hsv(210, 30, 240)],
    ]
}
