//! Fixture: a valid component of another world (exports `run`, not the coral:bot plugin world). Must be rejected.

wit_bindgen::generate!({
    inline: "package fixture:other; world other { export run: func() -> u32; }",
    world: "other",
});

struct Other;

impl Guest for Other {
    fn run() -> u32 {
        42
    }
}

export!(Other);
