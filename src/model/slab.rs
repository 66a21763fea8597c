//! Reusable slots with stable integer ids, for entities that come and go
//! (requests, sessions, instances) without allocating per entity.

/// Items in reusable slots.
#[derive(Clone, Debug)]
pub struct Slab<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `item` in a free slot; returns its id.
    pub fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.items[id as usize] = item;
                id
            }
            None => {
                self.items.push(item);
                (self.items.len() - 1) as u32
            }
        }
    }

    /// Frees slot `id` for reuse (its item stays until overwritten).
    pub fn remove(&mut self, id: u32) {
        self.free.push(id);
    }

    /// The item in slot `id`.
    #[inline]
    pub fn get(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    /// The item in slot `id`, to change.
    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut T {
        &mut self.items[id as usize]
    }

    /// Every stored item, freed slots included.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}
